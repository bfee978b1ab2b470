// The overview page: reads /api/overview every 10 s and draws it. Values
// come from log lines: they are set as text (textContent), never as markup.
(function () {
  'use strict';
  var charts = {};
  var lastIngest = null;

  function el(tag, text, href) {
    var e = document.createElement(tag);
    if (href) {
      var a = document.createElement('a');
      a.href = href;
      a.textContent = text;
      e.appendChild(a);
    } else e.textContent = text === undefined || text === null ? '' : String(text);
    return e;
  }

  function rows(id, list, cells) {
    var body = document.querySelector('#' + id + ' tbody');
    if (!body) return;
    body.textContent = '';
    list.forEach(function (item) {
      var tr = document.createElement('tr');
      cells(item).forEach(function (c) { tr.appendChild(c); });
      body.appendChild(tr);
    });
    if (!list.length) {
      var tr = document.createElement('tr');
      var td = el('td', 'none');
      td.className = 'muted';
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function search(q) { return '/search?' + new URLSearchParams({ q: q }).toString(); }
  function quote(v) { return '"' + String(v).replace(/["\\]/g, '\\$&') + '"'; }

  function chart(id, buckets, label) {
    var box = document.getElementById(id);
    if (!box || !window.uPlot) return;
    var xs = buckets.map(function (b) { return Date.parse(b.start) / 1000; });
    var ys = buckets.map(function (b) { return b.count; });
    box.dataset.total = String(ys.reduce(function (s, y) { return s + y; }, 0));
    if (charts[id]) { charts[id].setData([xs, ys]); return; }
    var opts = {
      width: Math.max(300, box.clientWidth || 500), height: 160,
      series: [{}, { label: label, stroke: '#2563eb', fill: 'rgba(37,99,235,0.15)', paths: window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.8] }) : undefined }],
      axes: [{}, { size: 40 }], legend: { show: false },
    };
    charts[id] = new window.uPlot(opts, [xs, ys], box);
  }

  function draw(d) {
    chart('failed-logins', d.failedLogins, 'failed logins');
    chart('events', d.events, 'events');
    chart('gateway-sessions', d.gatewaySessions, 'sessions');
    rows('top-sources', d.topSources, function (t) { return [el('td', t.value, search('source.ip:' + quote(t.value) + ' and event.outcome:failure')), el('td', t.count)]; });
    rows('top-users', d.topUsers, function (t) { return [el('td', t.value, search('user.name:' + quote(t.value) + ' and event.outcome:failure')), el('td', t.count)]; });
    rows('alerts-by-rule', d.alertsByRule, function (t) { return [el('td', t.name || t.rule, '/alerts?rule=' + encodeURIComponent(t.rule)), el('td', t.count)]; });
    rows('blocked-commands', d.blockedCommands, function (c) { return [el('td', c.at, c.session ? '/sessions/' + encodeURIComponent(c.session) : null), el('td', c.user), el('td', c.host), el('td', c.command)]; });
    rows('silent-hosts', d.silentHosts, function (h) { return [el('td', h.at), el('td', h.host), el('td', h.status)]; });
    var ing = document.getElementById('ingest');
    if (ing && d.ingest) {
      var now = Date.now();
      if (lastIngest) {
        var s = (now - lastIngest.at) / 1000;
        ing.textContent = 'ingest ' + Math.round((d.ingest.received - lastIngest.received) / s) + ' msg/s, ' + (d.ingest.dropped - lastIngest.dropped) + ' dropped in the last ' + Math.round(s) + ' s (' + d.ingest.dropped + ' since start)';
      } else ing.textContent = d.ingest.received + ' messages received since start, ' + d.ingest.dropped + ' dropped';
      lastIngest = { at: now, received: d.ingest.received, dropped: d.ingest.dropped };
    }
    var up = document.getElementById('updated');
    if (up) up.textContent = 'updated ' + new Date().toISOString().slice(11, 19) + 'Z';
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }

  function load() {
    var range = document.getElementById('range');
    fetch('/api/overview?range=' + encodeURIComponent(range ? range.value : '24h'), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) draw(d); })
      .catch(function () {});
  }

  load();
  setInterval(load, 10000);
})();
