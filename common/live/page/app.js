// neuralsynth live: the page. Plays /stream through the AudioWorklet
// (worklet.js), draws what plays, polls /status, sends the controls.
// `window.live` is the test hook (tests/test_live_browser.py).
'use strict';
(() => {
  const settings = JSON.parse(document.body.dataset.settings);
  const RATE = settings.sampleRate;
  const START_SECONDS = 0.3;     // buffered before playback (re)starts
  const CAPACITY_SECONDS = 8;    // the most the page buffers
  const REPORT_QUANTA = 8;       // worklet reports every 8 x 128 samples
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);

  const player = {ctx: null, node: null, abort: null, received: 0,
                  buffered: 0, playing: false, underruns: 0,
                  droppedSamples: 0, playedSamples: 0, ended: false,
                  error: null};
  let status = null;
  let columns = new Float32Array(0);  // (min, max) per quantum played
  let dirty = false;

  function show(text, isError) {
    $('message').textContent = text;
    $('message').classList.toggle('error', Boolean(isError));
  }

  function setPlayerState(text, led) {
    $('player-state').textContent = text;
    $('led').className = 'led ' + (led || '');
  }

  // ---- playing ----
  function onReport(report) {
    Object.assign(player, {
      buffered: report.buffered, playing: report.playing,
      underruns: report.underruns, droppedSamples: report.droppedSamples,
      playedSamples: report.playedSamples});
    const keep = 2 * Math.max(1, $('wave').width);
    const joined = new Float32Array(Math.min(keep, columns.length + report.peaks.length));
    const old = columns.subarray(Math.max(0, columns.length - (joined.length - report.peaks.length)));
    joined.set(old, 0);
    joined.set(report.peaks.subarray(Math.max(0, report.peaks.length - joined.length)),
               old.length);
    columns = joined;
    dirty = true;
    if (!player.ended && player.ctx) {
      setPlayerState(player.playing ? 'playing' : 'buffering…',
                     player.playing ? 'on' : 'waiting');
    }
  }

  function toFloat(bytes) {
    const n = bytes.length >> 1;
    const view = new DataView(bytes.buffer, bytes.byteOffset, 2 * n);
    const samples = new Float32Array(n);
    for (let i = 0; i < n; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
    return samples;
  }

  async function readStream(response) {
    const reader = response.body.getReader();
    let carry = null;  // a byte of a sample split between two reads
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      let bytes = value;
      if (carry !== null) {
        bytes = new Uint8Array(value.length + 1);
        bytes[0] = carry;
        bytes.set(value, 1);
      }
      carry = bytes.length % 2 ? bytes[bytes.length - 1] : null;
      const samples = toFloat(bytes);
      player.received += samples.length;
      player.node.port.postMessage(samples, [samples.buffer]);
    }
  }

  async function play() {
    if (player.ctx) return;
    player.ended = false;
    player.error = null;
    setPlayerState('starting…', 'waiting');
    $('play').textContent = 'Stop';
    const ctx = new AudioContext({sampleRate: RATE, latencyHint: 'playback'});
    player.ctx = ctx;
    try {
      await ctx.audioWorklet.addModule('/worklet.js');
      player.node = new AudioWorkletNode(ctx, 'live-player', {
        numberOfInputs: 0, outputChannelCount: [1], processorOptions: {
          capacitySamples: Math.round(CAPACITY_SECONDS * RATE),
          startSamples: Math.round(START_SECONDS * RATE),
          reportQuanta: REPORT_QUANTA}});
      player.node.port.onmessage = (e) => onReport(e.data);
      player.node.connect(ctx.destination);
      await ctx.resume();
      player.abort = new AbortController();
      const response = await fetch('/stream', {signal: player.abort.signal,
                                               cache: 'no-store'});
      if (!response.ok) throw new Error('/stream: HTTP ' + response.status);
      await readStream(response);
      player.ended = true;
      player.node.port.postMessage({end: true});
      setPlayerState('the stream ended', '');
    } catch (e) {
      if (e.name === 'AbortError') return;
      player.error = String(e);
      setPlayerState('error: ' + e.message, 'error');
    }
  }

  function stop() {
    if (!player.ctx) return;
    player.ended = true;
    if (player.abort) player.abort.abort();
    player.ctx.close();
    Object.assign(player, {ctx: null, node: null, abort: null});
    $('play').textContent = 'Play';
    setPlayerState('stopped', '');
  }

  // ---- the waveform ----
  function draw() {
    requestAnimationFrame(draw);
    const canvas = $('wave');
    const width = Math.round(canvas.clientWidth * devicePixelRatio);
    const height = Math.round(canvas.clientHeight * devicePixelRatio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      dirty = true;
    }
    if (!dirty) return;
    dirty = false;
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, width, height);
    g.fillStyle = '#262c3b';
    g.fillRect(0, height / 2, width, 1);
    g.fillStyle = '#7cc4ff';
    const n = columns.length / 2;
    for (let i = 0; i < n; i++) {
      const low = columns[2 * i], high = columns[2 * i + 1];
      const top = (1 - high) * height / 2, bottom = (1 - low) * height / 2;
      g.fillRect(width - n + i, top, 1, Math.max(1, bottom - top));
    }
  }

  // ---- status ----
  function seconds(s) {
    if (s === undefined || s === null) return '–';
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    const sec = Math.floor(s % 60);
    return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + sec + ' s';
  }

  function fixed(x, digits, unit) {
    return typeof x === 'number' ? x.toFixed(digits) + (unit || '') : '–';
  }

  function showStatus(s) {
    status = s;
    $('temperature').textContent = fixed(s.temperature, 2);
    $('seed').textContent = s.seed;
    $('source').textContent = s.playing || '–';
    $('uptime').textContent = seconds(s.uptime_seconds);
    $('rtf').textContent = fixed(s.real_time_factor, 2, '×');
    $('rtf').classList.toggle('bad', s.real_time_factor < 1);
    $('ahead').textContent = fixed(s.ahead_seconds, 2, ' s');
    $('underruns-server').textContent = s.underruns;
    $('underruns-server').classList.toggle('bad', s.underruns > 0);
    $('listeners').textContent = s.listeners;
    $('collapses').textContent = s.collapses;
    $('recoveries').textContent = s.recoveries;
    const input = $('temperature-input');
    if (document.activeElement !== input) {
      input.value = s.temperature;
      $('temperature-value').textContent = fixed(s.temperature, 2);
    }
  }

  function showPlayer() {
    $('buffered').textContent = player.ctx ?
      fixed(player.buffered / RATE, 2, ' s') : '–';
    $('underruns-client').textContent = player.underruns;
    $('underruns-client').classList.toggle('bad', player.underruns > 0);
  }

  async function poll() {
    try {
      const response = await fetch('/status', {cache: 'no-store'});
      if (response.ok) showStatus(await response.json());
    } catch (e) { /* the server is away: keep the last status */ }
    showPlayer();
  }

  // ---- controls ----
  async function send(url, body, headers) {
    const response = await fetch(url, {method: 'POST', body, headers});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || 'HTTP ' + response.status);
    poll();
    return answer;
  }

  function control(request, done) {
    return send('/control', JSON.stringify(request),
                {'Content-Type': 'application/json'})
      .then(() => show(done), (e) => show(e.message, true));
  }

  function setTemperature(t) {
    return control({temperature: t}, 'temperature ' + t.toFixed(2) +
                   ' from the next block');
  }

  function newSeed() {
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    return control({seed}, 'seed ' + seed + ' from the next block');
  }

  function primeClip() {
    const clip = $('clips').value;
    if (!clip) return show('no clip to prime from (start with --prime_dir)', true);
    return control({clip}, 'primed from ' + clip);
  }

  function primeUpload() {
    const file = $('upload').files[0];
    if (!file) return show('choose an audio file first', true);
    show('uploading ' + file.name + '…');
    return send('/prime', file, {'Content-Type': 'application/octet-stream',
                                 'X-Clip-Name': encodeURIComponent(file.name)})
      .then(() => show('primed from ' + file.name), (e) => show(e.message, true));
  }

  async function loadClips() {
    const response = await fetch('/clips', {cache: 'no-store'});
    const clips = (await response.json()).clips;
    const select = $('clips');
    select.replaceChildren(...clips.map((name) => new Option(name, name)));
    select.disabled = $('prime-clip').disabled = clips.length === 0;
    if (!clips.length) select.append(new Option('no clips (--prime_dir)', ''));
  }

  const input = $('temperature-input');
  [input.min, input.max] = settings.temperatureRange;
  input.addEventListener('input', () => {
    $('temperature-value').textContent = Number(input.value).toFixed(2);
  });
  input.addEventListener('change', () => setTemperature(Number(input.value)));
  $('play').addEventListener('click', () => (player.ctx ? stop() : play()));
  $('new-seed').addEventListener('click', newSeed);
  $('prime-clip').addEventListener('click', primeClip);
  $('prime-upload').addEventListener('click', primeUpload);
  loadClips();
  poll();
  setInterval(poll, POLL_MS);
  requestAnimationFrame(draw);

  window.live = {
    play, stop, setTemperature, newSeed,
    state: () => ({
      audioTime: player.ctx ? player.ctx.currentTime : null,
      contextState: player.ctx ? player.ctx.state : null,
      contextRate: player.ctx ? player.ctx.sampleRate : null,
      received: player.received, buffered: player.buffered,
      playing: player.playing, underruns: player.underruns,
      droppedSamples: player.droppedSamples,
      playedSamples: player.playedSamples, ended: player.ended,
      error: player.error, status}),
  };
})();
