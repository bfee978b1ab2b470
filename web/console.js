// Playback page: asciinema-player with one marker per command, the command
// list beside it (click = seek), and ?t=<seconds> deep links; or, for a live
// session, the player following it.
(function () {
  'use strict';
  var dataEl = document.getElementById('tw-session');
  var el = document.getElementById('player');
  if (!dataEl || !el || !window.AsciinemaPlayer) return;
  var data = JSON.parse(dataEl.textContent || '{}');
  if (data.live) {
    // A session still running: follow it (server-sent events of what the gateway records).
    window.twPlayer = window.AsciinemaPlayer.create({ driver: 'eventsource', url: data.live }, el, { autoPlay: true, fit: 'width', terminalFontSize: 'small' });
    return;
  }
  var markers = data.commands.map(function (c) { return [c.offset, c.command]; });
  var player = window.AsciinemaPlayer.create(data.cast, el, {
    preload: true,
    markers: markers,
    fit: 'width',
    terminalFontSize: 'small',
    startAt: data.startAt == null ? undefined : data.startAt,
  });
  window.twPlayer = player;
  var buttons = Array.prototype.slice.call(document.querySelectorAll('#commands button[data-index]'));

  function highlight(time) {
    var current = -1;
    for (var i = 0; i < data.commands.length; i++) if (data.commands[i].offset <= time + 0.001) current = i;
    buttons.forEach(function (b, i) { b.classList.toggle('current', i === current); });
  }

  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      var i = Number(b.getAttribute('data-index'));
      player.pause();
      // seeking to a marker lands exactly on the command's moment
      player.seek({ marker: i }).then(function () { highlight(player.getCurrentTime()); });
      history.replaceState(null, '', '?t=' + data.commands[i].offset);
    });
  });
  player.addEventListener('marker', function (e) { highlight(e.time); });
  if (data.startAt != null) {
    player.seek(data.startAt).then(function () { highlight(data.startAt); });
  }
})();
