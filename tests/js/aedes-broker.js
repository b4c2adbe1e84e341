// Starts an aedes broker (in-memory persistence) on 127.0.0.1:PORT for the integration tests,
// and with WS_PORT also over WebSocket (the `ws` server, `mqtt` selected when offered).
// DEFLATE accepts permessage-deflate and compresses every message: `takeover` keeps each
// side's window from message to message, `no-context-takeover` has both sides drop it.
// Usage: node aedes-broker.js PORT [WS_PORT [takeover|no-context-takeover]]
'use strict'
const net = require('net')
const { createBroker } = require('aedes')

const [port, wsPort] = [process.argv[2], process.argv[3]].map(Number)
const deflate = process.argv[4]
if (!Number.isInteger(port) || port <= 0 || (process.argv[3] !== undefined && !(wsPort > 0)) ||
    ![undefined, 'takeover', 'no-context-takeover'].includes(deflate)) {
  console.error('usage: node aedes-broker.js PORT [WS_PORT [takeover|no-context-takeover]]')
  process.exit(2)
}

function listenWebSocket (broker) {
  const { WebSocketServer, createWebSocketStream } = require('ws')
  const perMessageDeflate = deflate === undefined
    ? false
    : {
        threshold: 0,
        serverNoContextTakeover: deflate === 'no-context-takeover',
        clientNoContextTakeover: deflate === 'no-context-takeover'
      }
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: wsPort,
    perMessageDeflate,
    handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false)
  })
  wss.on('connection', (socket) => broker.handle(createWebSocketStream(socket)))
  wss.on('listening', () => console.log(`aedes listening on ws://127.0.0.1:${wsPort}`))
}

async function main () {
  const broker = await Promise.resolve(createBroker())
  const server = net.createServer(broker.handle)
  server.listen(port, '127.0.0.1', () => console.log(`aedes listening on 127.0.0.1:${port}`))
  if (wsPort) listenWebSocket(broker)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
