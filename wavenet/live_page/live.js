// neuralsynth wavenet.live: the instrument decoded live by the server.
//
// Keys (computer keyboard, mouse, Web MIDI), the x-y pad and the latent
// controls are sent to POST /control as JSON messages; the server decodes
// up to 4 voices block by block and streams the mix as PCM on /stream,
// which a worker (reader.js) reads with fetch() into the AudioWorklet
// player of common.live (worklet.js), off the page's main thread.
//
// Key latency as this page sees it: at a key-down from silence the page
// notes the audio clock (AudioContext.currentTime); the worklet reports the
// peaks of every quantum it plays, and the first quantum that is not silent
// (free voices are exactly 0) holds the note's first sample; its render
// time minus the key-down's is the latency (to within a quantum, 8 ms at
// 16 kHz; the sound card's own output latency comes on top).
//
// The keyboard, computer keys, pad pointer and MIDI are the instrument
// page's keys.js (/keys.js, loaded before this script).
//
// Test hook: window.live (start, noteOn, noteOff, setPosition, setControls,
// state).
'use strict';
(() => {
  const S = JSON.parse(document.body.dataset.settings);
  const RATE = S.sampleRate;
  const [LOW, HIGH] = S.pitchRange;
  const QUANTUM = 128;
  const REPORT_QUANTA = 2;        // worklet reports every 2 quanta (16 ms)
  const CAPACITY_SECONDS = 4;
  const START_SAMPLES = S.blockSamples;  // one block buffered to (re)start
  const POLL_MS = 500;
  // The most pad messages: one per block (the server applies the pad once
  // per block; more would only load the browser and the server).
  const PAD_MS = 1000 * S.blockSamples / RATE;
  const COLORS = ['#ff7a7a', '#6cb8ff', '#ffd166', '#5ee0a0'];
  const $ = (id) => document.getElementById(id);
  const clamp01 = (v) => Math.min(1, Math.max(0, Number(v) || 0));
  const noteName = window.neuralsynthKeys.noteName;
  const bilinear = (x, y) => [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y];

  const player = {ctx: null, node: null, gain: null, received: 0, buffered: 0,
                  playing: false, underruns: 0, playedSamples: 0,
                  droppedSamples: 0, error: null, silent: true,
                  quanta: 0, origin: Infinity};
  const held = new Set();           // MIDI notes whose key is down here
  const latencies = [];             // seconds, key-down to first sample
  let pending = null;               // {t0, midi}: a note from silence
  let pos = {x: 0.5, y: 0.5};
  let status = null;
  let sent = 0, refused = 0;

  function setStatus(text, led) {
    $('status').textContent = text;
    $('audio-led').className = 'led ' + (led || '');
  }

  // ---- messages ----
  async function send(message) {
    sent += 1;
    const response = await fetch('/control', {
      method: 'POST', body: JSON.stringify(message),
      headers: {'Content-Type': 'application/json'}});
    const answer = await response.json();
    if (!response.ok) {
      refused += 1;
      setStatus(answer.error || 'HTTP ' + response.status, 'error');
    }
    return answer;
  }

  // ---- audio ----
  function onReport(report) {
    Object.assign(player, {
      buffered: report.buffered, playing: report.playing,
      underruns: report.underruns, playedSamples: report.playedSamples,
      droppedSamples: report.droppedSamples});
    const peaks = report.peaks, n = peaks.length / 2;
    // The render clock: quantum q starts at origin + q * 128 / rate. A
    // report arrives after its last quantum was rendered, so the earliest
    // (least delayed) arrival gives the origin; main-thread delays do not
    // add to the latency measured.
    player.quanta += n;
    player.origin = Math.min(player.origin,
                             player.ctx.currentTime - player.quanta * QUANTUM / RATE);
    let first = -1;
    for (let j = 0; j < n; j++) {
      if (peaks[2 * j] !== 0 || peaks[2 * j + 1] !== 0) { first = j; break; }
    }
    player.silent = first < 0;
    if (pending && first >= 0) {
      const q = player.quanta - n + first;
      const rendered = player.origin + q * QUANTUM / RATE;
      latencies.push(Math.max(0, rendered - pending.t0));
      pending = null;
    }
  }

  async function start() {
    if (player.ctx) return;
    const ctx = new AudioContext({sampleRate: RATE, latencyHint: 'interactive'});
    player.ctx = ctx;
    setStatus('starting…', 'waiting');
    try {
      await ctx.audioWorklet.addModule('/worklet.js');
      player.node = new AudioWorkletNode(ctx, 'live-player', {
        numberOfInputs: 0, outputChannelCount: [1], processorOptions: {
          capacitySamples: Math.round(CAPACITY_SECONDS * RATE),
          startSamples: START_SAMPLES, reportQuanta: REPORT_QUANTA}});
      player.gain = ctx.createGain();
      player.gain.gain.value = Number($('volume').value);
      player.node.connect(player.gain);
      player.gain.connect(ctx.destination);
      await ctx.resume();
      $('start').disabled = true;
      // The stream is read in a worker that posts straight to the player.
      const reader = new Worker('/reader.js');
      reader.onmessage = (e) => {
        const m = e.data;
        if (m.report) onReport(m.report);
        else if (m.received) player.received += m.received;
        else if (m.started) setStatus('playing', 'on');
        else if (m.ended) setStatus('the server stopped', '');
        else if (m.error) {
          player.error = m.error;
          setStatus('error: ' + m.error, 'error');
        }
      };
      reader.postMessage({port: player.node.port, url: '/stream'},
                         [player.node.port]);
    } catch (e) {
      player.error = String(e);
      setStatus('error: ' + e.message, 'error');
    }
  }

  // ---- notes ----
  function noteOn(midi) {
    midi = Math.round(Number(midi));
    if (!(midi >= LOW && midi <= HIGH)) {
      setStatus(noteName(midi) + ' is outside the model\'s pitches ' +
                noteName(LOW) + '–' + noteName(HIGH));
      return false;
    }
    start();
    if (player.ctx && player.silent && held.size === 0 && !pending) {
      pending = {t0: player.ctx.currentTime, midi};
    }
    held.add(midi);
    keys.markKey(midi, true);
    send({type: 'note_on', pitch: midi});
    return true;
  }

  function noteOff(midi) {
    midi = Math.round(Number(midi));
    if (!held.delete(midi)) return false;
    keys.markKey(midi, false);
    send({type: 'note_off', pitch: midi});
    return true;
  }

  function allNotesOff() {
    for (const midi of [...held]) noteOff(midi);
    keys.releaseKeys();
  }

  // ---- pad ----
  let padTimer = null, padDirty = false;
  let drawQueued = false;
  function scheduleDraw() {
    if (!drawQueued) {
      drawQueued = true;
      requestAnimationFrame(() => { drawQueued = false; drawPad(); });
    }
  }

  function setPosition(x, y) {
    pos = {x: clamp01(x), y: clamp01(y)};
    scheduleDraw();
    padDirty = true;
    if (!padTimer) {
      const flush = () => {
        if (padDirty) {
          padDirty = false;
          send({type: 'pad', x: pos.x, y: pos.y});
          padTimer = setTimeout(flush, PAD_MS);
        } else {
          padTimer = null;
        }
      };
      flush();
    }
    return pos;
  }

  const frame = $('pad-frame'), padEl = $('pad'), canvas = $('pad-canvas');
  function hexToRgb(hex) {
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }
  let background = null;
  function renderBackground() {
    const size = 64, off = document.createElement('canvas');
    off.width = off.height = size;
    const g = off.getContext('2d'), img = g.createImageData(size, size);
    const rgb = COLORS.map(hexToRgb);
    for (let py = 0; py < size; py++) {
      for (let px = 0; px < size; px++) {
        const w = bilinear(px / (size - 1), py / (size - 1));
        const o = (py * size + px) * 4;
        for (let ch = 0; ch < 3; ch++) {
          let v = 0;
          for (let j = 0; j < 4; j++) v += w[j] * rgb[j][ch];
          img.data[o + ch] = v * 0.34 + 12;
        }
        img.data[o + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
    background = off;
  }

  // The pad is drawn at most once per animation frame; the canvas is sized
  // (which clears and reallocates it) only when the frame's size changed,
  // and the sound bars are made once and then only updated: a drag keeps
  // the browser's work small while the server decodes.
  let canvasSize = '';
  const bars = S.corners.map((name, i) => {
    const row = document.createElement('div');
    row.className = 'bar';
    row.innerHTML = '<span class="name"></span><span class="track">' +
        '<span class="fill"></span></span><span class="val"></span>';
    row.querySelector('.name').textContent = name;
    row.querySelector('.fill').style.background = COLORS[i];
    return {row, fill: row.querySelector('.fill'), val: row.querySelector('.val')};
  });
  $('sound-bars').replaceChildren(...bars.map((b) => b.row));

  function drawPad() {
    const dpr = window.devicePixelRatio || 1;
    const fr = frame.getBoundingClientRect(), pr = padEl.getBoundingClientRect();
    const width = Math.round(fr.width * dpr), height = Math.round(fr.height * dpr);
    if (canvasSize !== width + 'x' + height) {
      canvasSize = width + 'x' + height;
      canvas.width = width;
      canvas.height = height;
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, fr.width, fr.height);
    if (!background) renderBackground();
    const ox = pr.left - fr.left, oy = pr.top - fr.top;
    g.imageSmoothingEnabled = true;
    g.drawImage(background, ox, oy, pr.width, pr.height);
    const px = ox + pos.x * pr.width, py = oy + pos.y * pr.height;
    const w = bilinear(pos.x, pos.y);
    [[0, 0], [1, 0], [0, 1], [1, 1]].forEach(([cx, cy], i) => {
      g.strokeStyle = COLORS[i];
      g.globalAlpha = 0.2 + 0.8 * w[i];
      g.lineWidth = 1 + 3 * w[i];
      g.beginPath();
      g.moveTo(px, py);
      g.lineTo(ox + cx * pr.width, oy + cy * pr.height);
      g.stroke();
    });
    g.globalAlpha = 1;
    $('pad-dot').style.left = (pos.x * 100) + '%';
    $('pad-dot').style.top = (pos.y * 100) + '%';
    bars.forEach((b, i) => {
      b.fill.style.width = (100 * w[i]).toFixed(1) + '%';
      b.val.textContent = w[i].toFixed(2);
    });
    $('pos-readout').textContent = `x ${pos.x.toFixed(2)} · y ${pos.y.toFixed(2)}`;
  }

  // ---- latent controls ----
  function setControls(values) {
    return send(Object.assign({type: 'controls'}, values));
  }

  function setupControls() {
    for (const [name, [low, high]] of Object.entries(S.controlRanges)) {
      const input = $(name);
      input.min = low;
      input.max = high;
      input.value = S.controls[name];
      const show = () => { $(name + '-value').textContent = Number(input.value).toFixed(2); };
      show();
      input.addEventListener('input', () => {
        show();
        setControls({[name]: Number(input.value)});
      });
    }
    for (const name of ['osc_a', 'osc_b']) {
      const select = $(name);
      select.replaceChildren(...S.corners.map((c, i) => new Option(c, i)));
      select.value = S.controls[name];
      select.addEventListener('change', () => setControls({
        osc_a: Number($('osc_a').value), osc_b: Number($('osc_b').value)}));
    }
  }

  // ---- health ----
  const fixed = (x, d, unit) => (typeof x === 'number' ? x.toFixed(d) + (unit || '') : '–');
  function median(values) {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  async function poll() {
    try {
      const response = await fetch('/status', {cache: 'no-store'});
      if (response.ok) status = await response.json();
    } catch (e) { /* the server is away: keep the last status */ }
    if (status) {
      $('rtf').textContent = fixed(status.real_time_factor, 2, '×');
      $('rtf').classList.toggle('bad', status.real_time_factor < 1);
      $('latency-server').textContent = fixed(status.note_latency_ms, 0, ' ms');
      $('late-blocks').textContent = status.late_blocks;
      $('lead').textContent = fixed(status.lead_seconds, 3, ' s');
      $('bad-messages').textContent = status.bad_messages;
      $('voices').textContent = status.voices.filter((v) => v).length + ' / 4';
    }
    const last = latencies.length ? latencies[latencies.length - 1] : null;
    $('latency').textContent = last === null ? '–' :
      (1000 * last).toFixed(0) + ' ms (median ' + (1000 * median(latencies)).toFixed(0) + ')';
    $('buffered').textContent = player.ctx ? fixed(player.buffered / RATE, 2, ' s') : '–';
    $('underruns-page').textContent = player.underruns;
    $('underruns-page').classList.toggle('bad', player.underruns > 0);
  }

  // ---- init ----
  S.corners.forEach((name, i) => {
    const el = $('label-' + i);
    const swatch = document.createElement('i');
    swatch.style.background = COLORS[i];
    const text = document.createElement('span');
    text.textContent = name;
    el.replaceChildren(...(i % 2 ? [text, swatch] : [swatch, text]));
  });
  $('start').addEventListener('click', start);
  $('volume').addEventListener('input', (e) => {
    if (player.gain) player.gain.gain.value = Number(e.target.value);
  });
  window.addEventListener('resize', scheduleDraw);
  const middle = Math.max(LOW, Math.min(HIGH, 60));
  const keys = window.neuralsynthKeys.controls({
    low: LOW, high: HIGH, octave: middle - middle % 12, noteOn, noteOff,
    allNotesOff, setPosition, position: () => pos, start});
  setupControls();
  drawPad();
  poll();
  setInterval(poll, POLL_MS);

  window.live = {
    start, noteOn, noteOff, allNotesOff, setPosition, setControls,
    state: () => ({
      audioTime: player.ctx ? player.ctx.currentTime : null,
      contextState: player.ctx ? player.ctx.state : null,
      contextRate: player.ctx ? player.ctx.sampleRate : null,
      received: player.received, buffered: player.buffered,
      playing: player.playing, underruns: player.underruns,
      playedSamples: player.playedSamples, droppedSamples: player.droppedSamples,
      silent: player.silent, error: player.error, latencies: latencies.slice(),
      pending: pending !== null, held: [...held], sent, refused, status}),
  };
})();
