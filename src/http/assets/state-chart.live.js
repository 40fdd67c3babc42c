// Keeps the state chart's numbers current: polls the stats endpoint named by
// the panel's data-stats-url and writes counts into the elements that carry
// data-state / data-edge / data-count-for. Plain browser JS, no dependencies.
(function () {
  'use strict';
  var panel = document.querySelector('[data-stats-url]');
  if (!panel) return;
  var url = panel.getAttribute('data-stats-url');
  var every = Number(panel.getAttribute('data-poll-ms')) || 3000;
  var status = document.querySelector('[data-live-status]');
  var lastOk = Date.now();

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function byAttr(name, value) {
    return document.querySelectorAll('[' + name + '="' + CSS.escape(value) + '"]');
  }

  function applyState(name, n) {
    byAttr('data-state', name).forEach(function (g) {
      g.setAttribute('data-count', String(n));
      setText(g.querySelector('.state-count'), String(n));
      setText(g.querySelector('.state-unit'), n === 1 ? 'payment' : 'payments');
    });
    byAttr('data-count-for', 'state:' + name).forEach(function (el) { setText(el, String(n)); });
  }

  function applyEdge(id, n) {
    byAttr('data-edge', id).forEach(function (g) {
      g.setAttribute('data-count', n === null ? '' : String(n));
      setText(g.querySelector('.edge-count'), n === null ? 'not counted' : id === 'start' ? n + ' new' : n + ' in last hour');
    });
    byAttr('data-count-for', 'edge:' + id).forEach(function (el) { setText(el, n === null ? 'n/a' : String(n)); });
  }

  function apply(stats) {
    Object.keys(stats.states).forEach(function (name) { applyState(name, stats.states[name]); });
    Object.keys(stats.edges).forEach(function (id) { applyEdge(id, stats.edges[id]); });
    applyEdge('start', stats.started);
    panel.setAttribute('data-updated-at', stats.at);
  }

  function report(ok, text) {
    if (!status) return;
    status.className = ok ? 'live' : 'live stale';
    setText(status, text);
  }

  function poll() {
    fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (stats) {
        apply(stats);
        lastOk = Date.now();
        report(true, 'live · updated ' + stats.at.slice(11, 19) + ' UTC');
      })
      .catch(function (err) {
        var ago = Math.round((Date.now() - lastOk) / 1000);
        report(false, 'NOT UPDATING (' + err.message + ') · numbers are ' + ago + ' s old');
      })
      .then(function () { setTimeout(poll, every); });
  }

  setTimeout(poll, every);
})();
