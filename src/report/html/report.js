(function () {
  'use strict';
  // Anything that goes wrong is shown on the page (and read by the tests).
  function fail(message) {
    if (document.getElementById('report-error')) return;
    var div = document.createElement('div');
    div.id = 'report-error';
    div.textContent = 'The report could not be drawn: ' + message;
    document.body.insertBefore(div, document.body.firstChild);
  }
  window.addEventListener('error', function (e) { fail(e.message || String(e.error)); });

  var SVGNS = 'http://www.w3.org/2000/svg';
  var STATUSES = ['failed', 'error', 'warning', 'recorded', 'inconclusive', 'skipped', 'passed'];
  var RANK = {};
  STATUSES.forEach(function (s, i) { RANK[s] = i; });
  var PAGE = 100;
  // Failed and errored cases start expanded, up to this many on a page.
  var OPEN_BY_DEFAULT = 20;

  window.addEventListener('unhandledrejection', function (e) {
    fail(e.reason && e.reason.message ? e.reason.message : String(e.reason));
  });

  // The run's data: JSON as it is, or (a large run) gzipped and base64-encoded, inflated
  // by the browser's DecompressionStream before anything is drawn.
  function load(start) {
    var node = document.getElementById('report-data');
    if (node.getAttribute('data-encoding') !== 'gzip+base64') {
      start(JSON.parse(node.textContent));
      return;
    }
    var note = document.createElement('p');
    note.id = 'report-loading';
    note.textContent = 'Inflating the report…';
    document.getElementById('app').appendChild(note);
    if (typeof DecompressionStream === 'undefined') {
      note.remove();
      fail('this browser has no DecompressionStream (Chromium 80, Firefox 113, Safari 16.4 or later); the same run is in the JSON and JUnit reports');
      return;
    }
    var text = node.textContent;
    node.textContent = '';
    var bin = atob(text.replace(/\s+/g, ''));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    new Response(inflated).text().then(function (json) {
      note.remove();
      start(JSON.parse(json));
    }).catch(function (e) {
      note.remove();
      fail(e && e.message ? e.message : String(e));
    });
  }

  load(function (data) {
    var cases = data.cases;
    for (var i = 0; i < cases.length; i++) {
      var c = cases[i];
      c.i = i;
      c.hay = null;
    }
    var view = {
      show: {}, query: '', rule: null, page: 0, order: 'problems',
      open: {}, closed: {}
    };
    STATUSES.forEach(function (s) { view.show[s] = true; });

    function el(tag, attrs, text) {
      var e = document.createElement(tag);
      if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined && text !== null) e.textContent = text;
      return e;
    }
    function svg(tag, attrs, text) {
      var e = document.createElementNS(SVGNS, tag);
      if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined && text !== null) e.textContent = text;
      return e;
    }
    function secs(t) { return t.toFixed(3) + ' s'; }
    function haystack(c) {
      if (c.hay === null) {
        c.hay = (c.id + '\n' + c.t + '\n' + (c.m || '') + '\n' + (c.me || '') + '\n' +
          data.groups[c.g].name).toLowerCase();
      }
      return c.hay;
    }

    // ---- summary ------------------------------------------------------------------------
    var app = document.getElementById('app');
    var counts = {};
    STATUSES.forEach(function (s) { counts[s] = 0; });
    var byRule = {};
    var ruleOrder = [];
    cases.forEach(function (c) {
      counts[c.s]++;
      var r = byRule[c.id];
      if (!r) {
        r = byRule[c.id] = { id: c.id, title: c.t, n: {} };
        STATUSES.forEach(function (s) { r.n[s] = 0; });
        ruleOrder.push(r);
      }
      r.n[c.s]++;
    });

    var header = el('header');
    header.appendChild(el('h1', null, data.title));
    var problems = counts.failed + counts.error;
    header.appendChild(el('div', { class: 'meta' },
      cases.length + ' case(s) in ' + data.groups.length + ' group(s); ' +
      (problems ? problems + ' failed or errored' : 'nothing failed') +
      '; run took ' + secs(data.duration)));
    var props = {};
    data.groups.forEach(function (g) {
      g.properties.forEach(function (p) {
        if (!props[p[0]]) props[p[0]] = {};
        props[p[0]][p[1]] = true;
      });
    });
    var propText = Object.keys(props).map(function (k) {
      var vals = Object.keys(props[k]);
      return k + ': ' + (vals.length > 3 ? vals.length + ' values' : vals.join(', '));
    }).join(' · ');
    if (propText) header.appendChild(el('div', { class: 'meta' }, propText));
    app.appendChild(header);

    var main = el('main');
    app.appendChild(main);
    var chips = el('div', { class: 'chips', id: 'status-filters' });
    STATUSES.forEach(function (s) {
      var b = el('button', { class: 'chip st-' + s, 'data-status': s, 'aria-pressed': 'true', type: 'button' });
      b.appendChild(el('span', { class: 'dot' }));
      b.appendChild(document.createTextNode(s));
      b.appendChild(el('b', { class: 'count' }, String(counts[s])));
      b.addEventListener('click', function () {
        view.show[s] = !view.show[s];
        b.setAttribute('aria-pressed', String(view.show[s]));
        view.page = 0;
        draw();
      });
      chips.appendChild(b);
    });
    main.appendChild(chips);

    var controls = el('div', { class: 'controls' });
    var search = el('input', { type: 'search', id: 'search', placeholder: 'Search id, title, message, group…' });
    var timer = null;
    search.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        view.query = search.value.trim().toLowerCase();
        view.page = 0;
        draw();
      }, 150);
    });
    controls.appendChild(search);
    var order = el('select', { id: 'order' });
    order.appendChild(el('option', { value: 'problems' }, 'problems first'));
    order.appendChild(el('option', { value: 'run' }, 'report order'));
    order.addEventListener('change', function () { view.order = order.value; view.page = 0; draw(); });
    controls.appendChild(order);
    var ruleTag = el('span', { class: 'rule-filter', hidden: '' });
    controls.appendChild(ruleTag);
    main.appendChild(controls);

    // Counts by rule / test, one row each.
    var rulesBox = el('details', { class: 'rules' });
    rulesBox.appendChild(el('summary', null, 'By rule / test (' + ruleOrder.length + ')'));
    var rt = el('table', { class: 'rules', id: 'rule-table' });
    var hr = el('tr');
    hr.appendChild(el('th', null, 'id'));
    hr.appendChild(el('th', null, 'title'));
    STATUSES.forEach(function (s) { hr.appendChild(el('th', null, s)); });
    rt.appendChild(hr);
    ruleOrder.sort(function (a, b) {
      var pa = a.n.failed + a.n.error, pb = b.n.failed + b.n.error;
      return pb - pa || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
    ruleOrder.forEach(function (r) {
      var tr = el('tr');
      var td = el('td');
      var a = el('a', { title: 'show only this rule / test' }, r.id);
      a.addEventListener('click', function () { setRule(r.id); });
      td.appendChild(a);
      tr.appendChild(td);
      tr.appendChild(el('td', null, r.title));
      STATUSES.forEach(function (s) {
        tr.appendChild(el('td', { class: r.n[s] ? 'st-' + s : 'n0' }, String(r.n[s])));
      });
      rt.appendChild(tr);
    });
    rulesBox.appendChild(rt);
    if (ruleOrder.length <= 40) rulesBox.setAttribute('open', '');
    main.appendChild(rulesBox);

    function setRule(id) {
      view.rule = view.rule === id ? null : id;
      ruleTag.textContent = view.rule ? 'only ' + view.rule + ' ✕' : '';
      if (view.rule) ruleTag.removeAttribute('hidden'); else ruleTag.setAttribute('hidden', '');
      view.page = 0;
      draw();
    }
    ruleTag.addEventListener('click', function () { setRule(view.rule); });

    var list = el('div', { id: 'cases' });
    main.appendChild(list);
    var pagerTop = el('div', { class: 'pager' });
    var pagerBottom = el('div', { class: 'pager' });
    main.insertBefore(pagerTop, list);
    main.appendChild(pagerBottom);

    // ---- the list -------------------------------------------------------------------------
    function selected() {
      var out = [];
      for (var i = 0; i < cases.length; i++) {
        var c = cases[i];
        if (!view.show[c.s]) continue;
        if (view.rule !== null && c.id !== view.rule) continue;
        if (view.query && haystack(c).indexOf(view.query) < 0) continue;
        out.push(c);
      }
      if (view.order === 'problems') {
        out.sort(function (a, b) { return RANK[a.s] - RANK[b.s] || a.i - b.i; });
      }
      return out;
    }

    function pager(box, page, pages, total) {
      box.textContent = '';
      if (pages <= 1) {
        box.appendChild(el('span', { class: 'meta' }, total + ' case(s) shown'));
        return;
      }
      var prev = el('button', { type: 'button' }, '‹ previous');
      prev.disabled = page === 0;
      prev.addEventListener('click', function () { view.page--; draw(); });
      var next = el('button', { type: 'button' }, 'next ›');
      next.disabled = page >= pages - 1;
      next.addEventListener('click', function () { view.page++; draw(); });
      box.appendChild(prev);
      box.appendChild(el('span', { class: 'meta' },
        'page ' + (page + 1) + ' of ' + pages + ' (' + total + ' cases)'));
      box.appendChild(next);
    }

    function draw() {
      var shown = selected();
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      if (view.page >= pages) view.page = pages - 1;
      pager(pagerTop, view.page, pages, shown.length);
      pager(pagerBottom, view.page, pages, shown.length);
      list.textContent = '';
      if (!shown.length) {
        list.appendChild(el('div', { class: 'empty' }, 'No case matches the filters.'));
        return;
      }
      var opened = 0;
      var slice = shown.slice(view.page * PAGE, (view.page + 1) * PAGE);
      slice.forEach(function (c) {
        var auto = (c.s === 'failed' || c.s === 'error') && opened < OPEN_BY_DEFAULT;
        var open = view.open[c.i] || (auto && !view.closed[c.i]);
        if (open && auto) opened++;
        list.appendChild(caseRow(c, open));
      });
    }

    function caseRow(c, open) {
      var box = el('div', { class: 'case st-' + c.s, 'data-id': c.id, 'data-status': c.s });
      var head = el('div', { class: 'head', role: 'button', tabindex: '0' });
      head.appendChild(el('span', { class: 'badge' }, c.s));
      head.appendChild(el('span', { class: 'id' }, c.id));
      head.appendChild(el('span', { class: 'title' }, c.t));
      head.appendChild(el('span', { class: 'group', title: data.groups[c.g].name }, data.groups[c.g].name));
      head.appendChild(el('span', { class: 'dur' }, secs(c.d)));
      box.appendChild(head);
      var body = null;
      function toggle() {
        if (body) {
          box.removeChild(body);
          body = null;
          view.open[c.i] = false;
          view.closed[c.i] = true;
        } else {
          body = details(c);
          box.appendChild(body);
          view.open[c.i] = true;
          view.closed[c.i] = false;
        }
      }
      head.addEventListener('click', toggle);
      head.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); }
      });
      if (open) { body = details(c); box.appendChild(body); }
      return box;
    }

    function details(c) {
      var body = el('div', { class: 'body' });
      if (c.m) body.appendChild(el('pre', { class: 'message' }, c.m));
      if (c.me) {
        var kv = el('div', { class: 'kv' });
        kv.appendChild(el('b', null, 'measured: '));
        kv.appendChild(document.createTextNode(c.me));
        body.appendChild(kv);
      }
      if (c.b) {
        var br = el('div', { class: 'kv' });
        br.appendChild(el('b', null, 'branch: '));
        br.appendChild(document.createTextNode(c.b));
        body.appendChild(br);
      }
      if (c.c && c.c.length) {
        var ci = el('div', { class: 'kv' });
        ci.appendChild(el('b', null, 'cites: '));
        ci.appendChild(document.createTextNode(c.c.join(', ')));
        body.appendChild(ci);
      }
      var g = data.groups[c.g];
      var gk = el('div', { class: 'kv' });
      gk.appendChild(el('b', null, 'group: '));
      gk.appendChild(document.createTextNode(g.name));
      body.appendChild(gk);
      if (c.tr && c.tr.length) {
        var box = el('div', { class: 'diagram' });
        box.appendChild(diagram(c));
        body.appendChild(box);
        var tdet = el('details', { class: 'trace-lines' });
        tdet.appendChild(el('summary', null, 'trace (' + c.tr.length + ' lines)'));
        var tt = el('table', { class: 'trace' });
        var off = c.tm && typeof c.tm.offending === 'number' ? c.tm.offending : -1;
        c.tr.forEach(function (l, i) {
          var tr = el('tr', i === off ? { class: 'offending' } : null);
          tr.appendChild(el('td', null, secs(l[0])));
          tr.appendChild(el('td', null, l[1]));
          tr.appendChild(el('td', null, l[2]));
          tr.appendChild(el('td', null, l[3]));
          tt.appendChild(tr);
        });
        tdet.appendChild(tt);
        body.appendChild(tdet);
      } else {
        body.appendChild(el('div', { class: 'kv' }, 'No conversation kept for this case.'));
      }
      return body;
    }

    // ---- the sequence diagram --------------------------------------------------------------
    var MAX_LINES = 400;
    var MAX_CLIENT_LANES = 5;

    // A label: the text without its hex bytes (`[10 0c 00 …]`, in the tooltip), cut to n.
    function short(text, n) {
      var s = text.replace(/ \[[0-9a-f]{2}(?: [0-9a-f]{2})*[^\]]*\]/g, '');
      return s.length > n ? s.slice(0, n - 1) + '…' : s;
    }

    function diagram(c) {
      var lines = c.tr.slice(0, MAX_LINES);
      var tm = c.tm || {};
      var off = typeof tm.offending === 'number' ? tm.offending : -1;
      // Client lanes, one per connection in order of appearance; one server lane.
      var lanes = [];
      var laneOf = {};
      lines.forEach(function (l) {
        if (l[1] && !(l[1] in laneOf)) {
          if (lanes.length < MAX_CLIENT_LANES) { laneOf[l[1]] = lanes.length; lanes.push(l[1]); }
          else laneOf[l[1]] = MAX_CLIENT_LANES - 1;
        }
      });
      if (!lanes.length) { lanes.push(''); }
      var left = 86, serverX = 820, labelX = serverX + 48;
      var span = serverX - 240 - left;
      var laneX = lanes.map(function (_, i) {
        return lanes.length === 1 ? 250 : left + 60 + (span * i) / (lanes.length - 1);
      });
      function cx(conn) { return laneX[laneOf[conn] !== undefined ? laneOf[conn] : 0]; }

      // Rows: at least a row apart, time gaps add room (on a log scale); the timing's
      // instants between rows get room of their own, so a window shows its extent.
      var top = 58, ROW = 26;
      var instants = [];
      ['anchor', 'from', 'to', 'measured'].forEach(function (k) {
        if (typeof tm[k] === 'number') instants.push(tm[k]);
      });
      instants.sort(function (a, b) { return a - b; });
      function room(dt) { return Math.min(90, Math.log(1 + Math.max(0, dt) * 1000) / Math.LN10 * 16); }
      var knots = [], ys = [], y = top, prev = null, mi = 0;
      lines.forEach(function (l, i) {
        while (mi < instants.length && instants[mi] < l[0]) {
          var mt = instants[mi++];
          if (prev === null || mt <= prev) continue;
          y += room(mt - prev) + 8;
          knots.push([mt, y]);
          prev = mt;
        }
        if (i > 0) {
          y += ROW + room(l[0] - prev);
          // Room for the statement the offending line breaks.
          if (i - 1 === off) y += 18;
        }
        ys.push(y);
        knots.push([l[0], y]);
        prev = l[0];
      });
      // Time → y: piecewise linear through the knots, log-scaled room past the last one.
      function ty(t) {
        if (!knots.length) return top;
        if (t <= knots[0][0]) {
          var before = knots[0][0] - t;
          return Math.max(top - 30, knots[0][1] - Math.log(1 + before * 1000) / Math.LN10 * 8);
        }
        for (var k = 0; k < knots.length - 1; k++) {
          var t0 = knots[k][0], t1 = knots[k + 1][0];
          if (t >= t0 && t <= t1) {
            if (t1 === t0) return knots[k][1];
            var y0 = knots[k][1], y1 = knots[k + 1][1];
            return y0 + (y1 - y0) * (t - t0) / (t1 - t0);
          }
        }
        var last = knots[knots.length - 1];
        return last[1] + ROW / 2 + Math.log(1 + (t - last[0]) * 1000) / Math.LN10 * 22;
      }

      var bandFrom = null, bandTo = null;
      if (tm.from !== undefined || tm.to !== undefined || tm.anchor !== undefined) {
        bandFrom = tm.from !== undefined ? tm.from : (tm.anchor !== undefined ? tm.anchor : null);
        bandTo = tm.to !== undefined ? tm.to : null;
      }
      var bottom = ys.length ? ys[ys.length - 1] + ROW : top + ROW;
      var marks = [];
      if (bandTo !== null) marks.push(ty(bandTo));
      if (tm.measured !== undefined) marks.push(ty(tm.measured));
      if (tm.anchor !== undefined) marks.push(ty(tm.anchor));
      marks.forEach(function (m) { bottom = Math.max(bottom, m + 20); });
      var breaksText = null;
      if (off >= 0 && off < lines.length) {
        breaksText = 'breaks ' + (c.c && c.c.length ? c.c.join(', ') : c.id) + ': ' + (c.m || c.t);
        bottom = Math.max(bottom, ys[off] + 34);
      }
      var H = Math.ceil(bottom + 16);
      var root = svg('svg', {
        xmlns: SVGNS, viewBox: '0 0 ' + (labelX + 150) + ' ' + H, width: labelX + 150, height: H,
        class: 'sequence', role: 'img', 'aria-label': 'sequence diagram of ' + c.id
      });
      // Labels in the right margin, moved down past each other.
      var taken = [];
      function margin(y, rows) {
        var h = rows * 13;
        for (var moved = true; moved;) {
          moved = false;
          for (var k = 0; k < taken.length; k++) {
            if (y + h > taken[k][0] - 4 && y < taken[k][1] + 4) { y = taken[k][1] + 14; moved = true; }
          }
        }
        taken.push([y - 10, y - 10 + h]);
        return y;
      }
      var labels = [];
      var defs = svg('defs');
      ['#44546a', '#c62828'].forEach(function (color, i) {
        var m = svg('marker', {
          id: 'ah' + i + '-' + c.i, viewBox: '0 0 10 10', refX: '9', refY: '5',
          markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse'
        });
        m.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }));
        defs.appendChild(m);
      });
      root.appendChild(defs);

      // The window, under everything else.
      if (bandFrom !== null) {
        var y0 = ty(bandFrom);
        var y1 = bandTo !== null ? ty(bandTo) : H - 4;
        var x0 = Math.min.apply(null, laneX) - 40;
        var band = svg('rect', {
          class: 'window', x: x0, y: y0, width: serverX + 40 - x0, height: Math.max(2, y1 - y0)
        });
        var bounds = (tm.from !== undefined ? secs(tm.from) : 'from ' + secs(bandFrom)) +
          ' – ' + (bandTo !== null ? secs(bandTo) : 'open-ended');
        var wtext = 'window ' + bounds + (tm.what ? ' (' + tm.what + ')' : '');
        band.appendChild(svg('title', null, wtext + (tm.conn ? ' on ' + tm.conn : '')));
        root.appendChild(band);
        // In the right margin, halfway down the band.
        labels.push(function () {
          var wy = margin((y0 + y1) / 2, 2);
          var wl = svg('text', { class: 'window-label', x: labelX, y: wy });
          wl.appendChild(svg('tspan', { x: labelX }, 'window'));
          wl.appendChild(svg('tspan', { x: labelX, dy: 13 }, bounds));
          wl.appendChild(svg('title', null, wtext));
          root.appendChild(wl);
        });
      }
      if (tm.anchor !== undefined) {
        var ya = ty(tm.anchor);
        root.appendChild(svg('line', { class: 'anchor', x1: left - 10, x2: serverX + 40, y1: ya, y2: ya }));
        root.appendChild(svg('text', { class: 't', x: labelX, y: margin(ya + 4, 1) }, 'anchor ' + secs(tm.anchor)));
      }

      // Lanes.
      laneX.concat([serverX]).forEach(function (x, i) {
        var name = i < lanes.length ? 'client' + (lanes[i] ? ' ' + lanes[i] : '') : 'server';
        if (i === MAX_CLIENT_LANES - 1 && i < lanes.length && Object.keys(laneOf).length > MAX_CLIENT_LANES) {
          name += ' (+ more)';
        }
        root.appendChild(svg('line', { class: 'lane', x1: x, x2: x, y1: 34, y2: H - 6 }));
        var label = short(name, 30);
        var w = Math.max(70, label.length * 6.6 + 16);
        var g = svg('g', { class: 'lane-box' });
        g.appendChild(svg('rect', { class: 'lane-head', x: x - w / 2, y: 8, width: w, height: 24, rx: 4 }));
        g.appendChild(svg('text', { x: x, y: 24, 'text-anchor': 'middle' }, label));
        g.appendChild(svg('title', null, name));
        root.appendChild(g);
      });

      // The measured event.
      if (tm.measured !== undefined) {
        // The measured event is the offending line when there is one at its time.
        var ym = off >= 0 && off < lines.length && lines[off][0] === tm.measured ? ys[off] : ty(tm.measured);
        var outside = (tm.from !== undefined && tm.measured < tm.from) || (tm.to !== undefined && tm.measured > tm.to);
        var mg = svg('g', { class: 'measured' + (outside ? ' outside' : '') });
        var mx = tm.conn && tm.conn in laneOf ? cx(tm.conn) : laneX[0];
        mg.appendChild(svg('line', { x1: left - 10, x2: serverX + 40, y1: ym, y2: ym, 'stroke-dasharray': '6 2' }));
        mg.appendChild(svg('circle', { cx: mx, cy: ym, r: 5 }));
        mg.appendChild(svg('text', { x: labelX, y: margin(ym + 4, 1) }, 'measured ' + secs(tm.measured)));
        mg.appendChild(svg('title', null, (tm.what || 'measured') + ' at ' + secs(tm.measured) + (outside ? ', outside the window' : ', inside the window')));
        root.appendChild(mg);
      }
      // Arrows and notes.
      lines.forEach(function (l, i) {
        var yy = ys[i];
        var isOff = i === off;
        root.appendChild(svg('text', { class: 't', x: 6, y: yy + 4 }, secs(l[0])));
        var tip = secs(l[0]) + (l[1] ? ' · ' + l[1] : '') + (l[2] ? ' ' + l[2] : '') + '\n' + l[3];
        var g;
        if (l[2] === '→' || l[2] === '←') {
          var from = l[2] === '→' ? cx(l[1]) : serverX;
          var to = l[2] === '→' ? serverX : cx(l[1]);
          g = svg('g', { class: 'arrow' + (isOff ? ' offending' : ''), 'data-line': i });
          g.appendChild(svg('line', {
            x1: from, x2: to + (to > from ? -2 : 2), y1: yy, y2: yy,
            'marker-end': 'url(#ah' + (isOff ? 1 : 0) + '-' + c.i + ')'
          }));
          // A wide transparent line makes the arrow easy to hover.
          g.appendChild(svg('line', { x1: from, x2: to, y1: yy, y2: yy, stroke: 'transparent', 'stroke-width': 12, style: 'stroke:transparent' }));
          g.appendChild(svg('text', { x: (from + to) / 2, y: yy - 5, 'text-anchor': 'middle' }, short(l[3], 70)));
        } else {
          // Notes: the cloud's doings by the server, the rest by the client's lane.
          var atServer = /^cloud\b/.test(l[3]);
          var x = atServer ? serverX - 8 : cx(l[1]) + 8;
          var text = short(l[3], 80);
          var w = Math.min(600, text.length * 6.7 + 14);
          g = svg('g', { class: 'note' + (isOff ? ' offending' : ''), 'data-line': i });
          g.appendChild(svg('rect', {
            x: atServer ? x - w : x, y: yy - 10, width: w, height: 18, rx: 3,
            fill: '#fbfbf3', stroke: '#d9d6b8'
          }));
          g.appendChild(svg('text', { x: atServer ? x - w + 6 : x + 6, y: yy + 3 }, text));
        }
        g.appendChild(svg('title', null, tip));
        root.appendChild(g);
        if (isOff && breaksText) {
          var bt = svg('text', { class: 'breaks', x: left, y: yy + 24 }, '✗ ' + short(breaksText.replace(/\s+/g, ' '), 100));
          bt.appendChild(svg('title', null, breaksText));
          root.appendChild(bt);
        }
      });

      labels.forEach(function (f) { f(); });
      if (c.tr.length > MAX_LINES) {
        root.appendChild(svg('text', { class: 't', x: left, y: H - 4 }, '… ' + (c.tr.length - MAX_LINES) + ' more lines in the trace below'));
      }
      return root;
    }

    // A link may carry filters: #q=text&status=failed,error&rule=ID.
    (function fromHash() {
      var hash = window.location.hash.replace(/^#/, '');
      if (!hash) return;
      hash.split('&').forEach(function (kv) {
        var at = kv.indexOf('=');
        if (at < 0) return;
        var k = kv.slice(0, at), v = decodeURIComponent(kv.slice(at + 1));
        if (k === 'q') {
          search.value = v;
          view.query = v.trim().toLowerCase();
        } else if (k === 'status') {
          var wanted = v.split(',');
          STATUSES.forEach(function (s) {
            view.show[s] = wanted.indexOf(s) >= 0;
            chips.querySelector('[data-status="' + s + '"]').setAttribute('aria-pressed', String(view.show[s]));
          });
        } else if (k === 'rule' && byRule[v]) {
          setRule(v);
        }
      });
    })();

    draw();
    // Read by the tests: the script ran to its end.
    var ready = el('div', { id: 'report-ready', hidden: '' });
    ready.setAttribute('data-cases', String(cases.length));
    // Milliseconds from the start of navigation to a drawn page.
    ready.setAttribute('data-ms', String(Math.round(performance.now())));
    document.body.appendChild(ready);
  });
})();
