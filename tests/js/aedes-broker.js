// Starts an aedes broker (in-memory persistence) on 127.0.0.1:PORT for the integration tests.
// Usage: node aedes-broker.js PORT
'use strict'
const net = require('net')
const { createBroker } = require('aedes')

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node aedes-broker.js PORT')
  process.exit(2)
}

async function main () {
  const broker = await Promise.resolve(createBroker())
  const server = net.createServer(broker.handle)
  server.listen(port, '127.0.0.1', () => console.log(`aedes listening on 127.0.0.1:${port}`))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
