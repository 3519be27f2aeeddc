// neuralsynth instrument: plays a WaveNet autoencoder's pre-rendered grid.
//
// The x-y pad position selects the 4 grid points around it; every note plays
// one AudioBufferSourceNode per point into a GainNode per point whose gain is
// the point's bilinear weight. Moving the pad while notes sound ramps the
// gains (FADE seconds); points entering the set start at the note's current
// offset and fade in, points leaving fade out. Notes between rendered
// pitches play the nearest rendered one (the manifest's key ranges) at
// playbackRate 2^((note - rendered) / 12). Notes come from samples.js
// (base64, works from file://) or, when served over http without it, from
// the audio files beside the page; they are decoded lazily at the build's
// sample rate with an OfflineAudioContext (no user gesture needed).
//
// The keyboard, computer keys, pad pointer and MIDI are keys.js (shared with
// wavenet.live's page), inlined before this script.
//
// Test hook: window.instrument (setPosition, noteOn, noteOff, setMode,
// state, weightsAt, ready).
(function () {
  'use strict';

  const M = JSON.parse(document.getElementById('manifest').textContent);
  const SAMPLES = window.NEURALSYNTH_SAMPLES || null;
  const G = M.grid;
  const FADE = 0.04;        // s: gain ramps when the pad moves or mode flips
  const ATTACK = 0.003;     // s
  const RELEASE = 0.18;     // s (time to silence after note off)
  const MAX_VOICES = 12;
  const CACHE_LIMIT = 900;  // decoded notes kept (LRU)
  // Corners first (coral, blue, amber, green), then more distinct hues.
  const PALETTE = ['#ff7a7a', '#6cb8ff', '#ffd166', '#5ee0a0', '#c792ea',
                   '#ff9f5a', '#4fd6d6', '#f78fb3', '#a8e05f', '#8c9eff',
                   '#e0c3a0', '#ff5fa2'];

  const $ = (id) => document.getElementById(id);
  const clamp01 = (v) => Math.min(1, Math.max(0, Number(v) || 0));
  const noteName = window.neuralsynthKeys.noteName;

  // ---------------------------------------------------------------- mixing
  // Same as wavenet.latent.bilinear_weights / nearest_grid_points.
  function bilinearWeights(x, y) {
    return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y];
  }
  function nearestGridPoints(x, y, grid) {
    x = clamp01(x); y = clamp01(y);
    const s = grid - 1;
    const c = Math.min(Math.floor(x * s), s - 1);
    const r = Math.min(Math.floor(y * s), s - 1);
    const tl = r * grid + c;
    return {
      points: [tl, tl + 1, tl + grid, tl + grid + 1],
      weights: bilinearWeights(x * s - c, y * s - r),
    };
  }

  const ranges = M.key_ranges;
  const lowKey = ranges[0].lokey;
  const highKey = ranges[ranges.length - 1].hikey;
  function regionFor(midi) {
    for (const r of ranges) if (midi >= r.lokey && midi <= r.hikey) return r;
    return null;
  }

  function soundColor(i) {
    if (i < PALETTE.length) return PALETTE[i];
    const hue = (i * 137.508 + 20) % 360;
    return `hsl(${hue.toFixed(0)}, 75%, 66%)`;
  }

  // ----------------------------------------------------------------- state
  let pos = {x: 0.5, y: 0.5};
  let mix = nearestGridPoints(0.5, 0.5, G);
  let mode = 'latent';
  let volume = 0.8;
  let ctx = null, master = null, limiter = null;
  const voices = new Map();   // midi -> voice (held or sounding)
  const sounding = new Set(); // all voices with live sources
  const active = new Set();   // live AudioBufferSourceNodes
  let keys = null;            // keys.js's controls, from init()
  let voiceCounter = 0;
  let lastError = null;

  // --------------------------------------------------------------- decoding
  let decoder = null;
  function getDecoder() {
    if (!decoder) {
      const Offline = window.OfflineAudioContext ||
                      window.webkitOfflineAudioContext;
      try { decoder = new Offline(1, 1, M.sample_rate); }
      catch (e) { decoder = new Offline(1, 1, 44100); }
    }
    return decoder;
  }
  function base64ToArrayBuffer(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function loadBytes(rel) {
    if (SAMPLES && SAMPLES[rel]) {
      return Promise.resolve(base64ToArrayBuffer(SAMPLES[rel]));
    }
    if (location.protocol === 'http:' || location.protocol === 'https:') {
      return fetch(rel).then((r) => {
        if (!r.ok) throw new Error(rel + ': HTTP ' + r.status);
        return r.arrayBuffer();
      });
    }
    return Promise.reject(new Error(
        rel + ': not in samples.js (keep samples.js beside index.html)'));
  }
  const cache = new Map();  // rel -> {promise, buffer, used}
  let useClock = 0, decodedCount = 0;
  function getBuffer(rel) {
    let entry = cache.get(rel);
    if (!entry) {
      entry = {buffer: null, used: 0};
      entry.promise = loadBytes(rel)
          .then((bytes) => getDecoder().decodeAudioData(bytes))
          .then((buffer) => {
            entry.buffer = buffer;
            decodedCount++;
            scheduleStatus();
            return buffer;
          });
      entry.promise.catch((err) => {
        cache.delete(rel);
        reportError('could not load ' + rel + ': ' + (err && err.message));
      });
      cache.set(rel, entry);
      trimCache();
    }
    entry.used = ++useClock;
    return entry;
  }
  function trimCache() {
    if (cache.size <= CACHE_LIMIT) return;
    const entries = [...cache.entries()].filter(([, e]) => e.buffer)
        .sort((a, b) => a[1].used - b[1].used);
    for (const [rel] of entries.slice(0, cache.size - CACHE_LIMIT)) {
      cache.delete(rel);  // playing sources keep their buffers alive
      decodedCount--;
    }
  }
  function fileFor(m, point, pitch) {
    return M.points[point].files[m][String(pitch)];
  }
  let prefetchTimer = null;
  function prefetch() {
    clearTimeout(prefetchTimer);
    prefetchTimer = setTimeout(() => {
      for (const p of mix.points) {
        for (const pitch of M.pitches) getBuffer(fileFor(mode, p, pitch));
      }
    }, 30);
  }

  // ------------------------------------------------------------ audio graph
  function ensureContext() {
    if (!ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { reportError('this browser has no Web Audio API'); return null; }
      try {
        ctx = new AC({sampleRate: M.sample_rate, latencyHint: 'interactive'});
      } catch (e) {
        ctx = new AC();
      }
      master = ctx.createGain();
      master.gain.value = volume;
      limiter = ctx.createDynamicsCompressor();
      limiter.threshold.value = -4;
      limiter.knee.value = 4;
      limiter.ratio.value = 16;
      limiter.attack.value = 0.002;
      limiter.release.value = 0.12;
      master.connect(limiter);
      limiter.connect(ctx.destination);
      ctx.onstatechange = scheduleStatus;
    }
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    scheduleStatus();
    return ctx;
  }

  function rampTo(param, value, now, seconds) {
    param.cancelScheduledValues(now);
    param.setValueAtTime(param.value, now);
    if (seconds > 0) param.linearRampToValueAtTime(value, now + seconds);
    else param.setValueAtTime(value, now);
  }

  function desiredParts() {
    const want = new Map();
    mix.points.forEach((p, i) => {
      const key = mode + ':' + p;
      want.set(key, (want.get(key) || 0) + mix.weights[i]);
    });
    return want;
  }

  function addPart(v, key, weight, now, fade) {
    const [m, p] = key.split(':');
    const point = Number(p);
    const entry = getBuffer(fileFor(m, point, v.pitch));
    if (!entry.buffer) {
      if (!v.pending.has(key)) {
        v.pending.add(key);
        entry.promise.then(() => {
          v.pending.delete(key);
          if (!v.released) updateVoice(v, true);
        }, () => v.pending.delete(key));
      }
      return;
    }
    const when = Math.max(now, v.start);
    const offset = Math.max(0, now - v.start) * v.rate;
    if (offset >= entry.buffer.duration) return;
    const src = ctx.createBufferSource();
    src.buffer = entry.buffer;
    src.playbackRate.value = v.rate;
    const gain = ctx.createGain();
    if (fade && now > v.start) {
      gain.gain.value = 0;
      gain.gain.setValueAtTime(0, now);
      gain.gain.linearRampToValueAtTime(weight, now + FADE);
    } else {
      gain.gain.value = weight;
      gain.gain.setValueAtTime(weight, when);
    }
    src.connect(gain);
    gain.connect(v.env);
    const part = {key, point, mode: m, src, gain, target: weight};
    v.parts.set(key, part);
    active.add(src);
    src.onended = () => {
      active.delete(src);
      if (v.parts.get(key) === part) v.parts.delete(key);
      v.leaving.delete(part);
      src.disconnect();
      gain.disconnect();
      scheduleStatus();
      if (!v.parts.size && !v.leaving.size && (v.released || !v.pending.size)) {
        finishVoice(v);
      }
    };
    src.start(when, offset);
    scheduleStatus();
  }

  function updateVoice(v, fade) {
    if (v.start === null || v.released || !ctx) return;
    const now = ctx.currentTime;
    const want = desiredParts();
    for (const [key, part] of [...v.parts]) {
      if (want.has(key)) continue;
      v.parts.delete(key);
      v.leaving.add(part);
      rampTo(part.gain.gain, 0, now, FADE);
      part.target = 0;
      try { part.src.stop(now + FADE + 0.03); } catch (e) { /* stopped */ }
    }
    for (const [key, weight] of want) {
      const part = v.parts.get(key);
      if (part) {
        rampTo(part.gain.gain, weight, now, fade ? FADE : 0);
        part.target = weight;
      } else {
        addPart(v, key, weight, now, fade);
      }
    }
  }

  function finishVoice(v) {
    sounding.delete(v);
    if (voices.get(v.midi) === v && v.released) voices.delete(v.midi);
    try { v.env.disconnect(); } catch (e) { /* already */ }
    scheduleStatus();
  }

  function velocityGain(velocity) {
    const v = Math.min(127, Math.max(1, velocity)) / 127;
    return 0.25 + 0.75 * v * v;
  }

  function noteOn(midi, velocity) {
    midi = Math.round(Number(midi));
    const region = regionFor(midi);
    if (!region) {
      setStatus(noteName(midi) + ' is outside the playable range ' +
                noteName(lowKey) + '–' + noteName(highKey));
      return false;
    }
    if (!ensureContext()) return false;
    if (voices.has(midi)) releaseVoice(voices.get(midi));
    const live = [...sounding].filter((v) => !v.released);
    if (live.length >= MAX_VOICES) releaseVoice(live[0]);
    const env = ctx.createGain();
    env.gain.value = 0;
    env.connect(master);
    const v = {
      id: ++voiceCounter, midi, pitch: region.pitch,
      rate: Math.pow(2, (midi - region.pitch) / 12),
      level: velocityGain(velocity === undefined ? 100 : velocity),
      env, parts: new Map(), leaving: new Set(), pending: new Set(),
      start: null, released: false,
    };
    voices.set(midi, v);
    sounding.add(v);
    const entries = mix.points.map((p) => getBuffer(fileFor(mode, p, v.pitch)));
    Promise.all(entries.map((e) => e.promise)).then(() => {
      if (v.released) { finishVoice(v); return; }
      const now = ctx.currentTime;
      v.start = now + 0.005;
      env.gain.setValueAtTime(0, v.start);
      env.gain.linearRampToValueAtTime(v.level, v.start + ATTACK);
      updateVoice(v, false);
      scheduleStatus();
    }, () => { voices.delete(midi); finishVoice(v); });
    keys.markKey(midi, true);
    return true;
  }

  function releaseVoice(v) {
    if (v.released) return;
    v.released = true;
    if (voices.get(v.midi) === v) voices.delete(v.midi);
    keys.markKey(v.midi, voices.has(v.midi));
    if (v.start === null || !ctx) return;  // finished when its decode lands
    const now = ctx.currentTime;
    rampTo(v.env.gain, 0, now, RELEASE);
    for (const part of [...v.parts.values(), ...v.leaving]) {
      try { part.src.stop(Math.max(now, v.start) + RELEASE + 0.02); }
      catch (e) { /* already stopped */ }
    }
    if (!v.parts.size && !v.leaving.size) finishVoice(v);
  }

  function noteOff(midi) {
    const v = voices.get(Math.round(Number(midi)));
    if (!v) return false;
    releaseVoice(v);
    return true;
  }

  function allNotesOff() {
    for (const v of [...sounding]) releaseVoice(v);
    keys.releaseKeys();
  }

  // ---------------------------------------------------------- pad & mode
  function setPosition(x, y) {
    pos = {x: clamp01(x), y: clamp01(y)};
    mix = nearestGridPoints(pos.x, pos.y, G);
    for (const v of sounding) updateVoice(v, true);
    prefetch();
    scheduleDraw();
    return state();
  }

  function setMode(m) {
    if (m !== 'latent' && m !== 'mix') throw new Error('mode: latent or mix');
    mode = m;
    for (const v of sounding) updateVoice(v, true);
    prefetch();
    $('mode-latent').classList.toggle('on', m === 'latent');
    $('mode-mix').classList.toggle('on', m === 'mix');
    $('mode-latent').setAttribute('aria-pressed', String(m === 'latent'));
    $('mode-mix').setAttribute('aria-pressed', String(m === 'mix'));
    $('mode-help').textContent = M.modes[m];
    document.body.classList.toggle('mode-mix', m === 'mix');
    document.body.classList.toggle('mode-latent', m === 'latent');
    scheduleDraw();
    return state();
  }

  function state() {
    const live = [...sounding].filter((v) => v.start !== null && !v.released);
    const newest = live.length ? live[live.length - 1] : null;
    const gainsOf = (v) => mix.points.map((p) => {
      const part = v.parts.get(mode + ':' + p);
      return part ? part.gain.gain.value : null;
    });
    return {
      position: {x: pos.x, y: pos.y},
      points: mix.points.slice(),
      weights: mix.weights.slice(),
      gains: newest ? gainsOf(newest) : null,
      activeSources: active.size,
      voices: live.map((v) => ({
        midi: v.midi, pitch: v.pitch, rate: v.rate,
        points: [...v.parts.values()].map((p) => p.point),
        gains: gainsOf(v),
        targets: mix.points.map((p) => {
          const part = v.parts.get(mode + ':' + p);
          return part ? part.target : null;
        }),
      })),
      mode, octave: keys.octave(),
      audio: ctx ? ctx.state : 'off',
      sampleRate: ctx ? ctx.sampleRate : null,
      decoded: decodedCount,
      error: lastError,
    };
  }

  // ------------------------------------------------------------ drawing
  const canvas = $('pad-canvas');
  const frame = $('pad-frame');
  const padEl = $('pad');
  const dot = $('pad-dot');
  let drawQueued = false;
  let background = null;  // cached ImageData-sized canvas of the blend

  function hexToRgb(color) {
    const probe = document.createElement('canvas').getContext('2d');
    probe.fillStyle = color;
    const hex = probe.fillStyle;  // normalised '#rrggbb'
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }

  function renderBackground() {
    // The sounds' colours blended bilinearly over the lattice, dimmed.
    const off = document.createElement('canvas');
    const size = 96;
    off.width = off.height = size;
    const c2 = off.getContext('2d');
    const img = c2.createImageData(size, size);
    const k = M.layout.length;
    const colors = M.sounds.map((s, i) => hexToRgb(soundColor(i)));
    for (let py = 0; py < size; py++) {
      for (let px = 0; px < size; px++) {
        const x = px / (size - 1), y = py / (size - 1);
        const s = k - 1;
        const c = Math.min(Math.floor(x * s), s - 1);
        const r = Math.min(Math.floor(y * s), s - 1);
        const wts = bilinearWeights(x * s - c, y * s - r);
        const ids = [M.layout[r][c], M.layout[r][c + 1], M.layout[r + 1][c],
                     M.layout[r + 1][c + 1]];
        const o = (py * size + px) * 4;
        for (let ch = 0; ch < 3; ch++) {
          let v = 0;
          for (let j = 0; j < 4; j++) v += wts[j] * colors[ids[j]][ch];
          img.data[o + ch] = v * 0.34 + 12;
        }
        img.data[o + 3] = 255;
      }
    }
    c2.putImageData(img, 0, 0);
    background = off;
  }

  function draw() {
    drawQueued = false;
    const dpr = window.devicePixelRatio || 1;
    const fr = frame.getBoundingClientRect();
    const pr = padEl.getBoundingClientRect();
    const W = Math.round(fr.width * dpr), H = Math.round(fr.height * dpr);
    if (canvas.width !== W || canvas.height !== H) {
      canvas.width = W; canvas.height = H;
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, fr.width, fr.height);
    const ox = pr.left - fr.left, oy = pr.top - fr.top;
    const pw = pr.width, ph = pr.height;
    if (!background) renderBackground();
    g.save();
    roundRect(g, ox, oy, pw, ph, 6);
    g.clip();
    g.imageSmoothingEnabled = true;
    g.drawImage(background, ox, oy, pw, ph);
    // Grid lines.
    g.strokeStyle = 'rgba(255,255,255,0.06)';
    g.lineWidth = 1;
    for (let i = 0; i < G; i++) {
      const t = i / (G - 1);
      g.beginPath(); g.moveTo(ox + t * pw, oy); g.lineTo(ox + t * pw, oy + ph);
      g.stroke();
      g.beginPath(); g.moveTo(ox, oy + t * ph); g.lineTo(ox + pw, oy + t * ph);
      g.stroke();
    }
    g.restore();
    const px = ox + pos.x * pw, py = oy + pos.y * ph;
    // Links from the dot to the 4 points, by weight.
    mix.points.forEach((p, i) => {
      const w = mix.weights[i];
      if (w < 1e-3) return;
      const q = M.points[p];
      g.strokeStyle = mode === 'mix' ? `rgba(255,190,120,${0.15 + 0.6 * w})`
                                     : `rgba(160,200,255,${0.15 + 0.6 * w})`;
      g.lineWidth = 1 + 2.5 * w;
      g.beginPath(); g.moveTo(px, py); g.lineTo(ox + q.x * pw, oy + q.y * ph);
      g.stroke();
    });
    // Grid points.
    const inMix = new Map(mix.points.map((p, i) => [p, mix.weights[i]]));
    for (const q of M.points) {
      const x = ox + q.x * pw, y = oy + q.y * ph;
      const w = inMix.has(q.index) ? inMix.get(q.index) : -1;
      g.beginPath();
      g.arc(x, y, w >= 0 ? 3.5 + 7 * w : 2.6, 0, Math.PI * 2);
      g.fillStyle = w < 0 ? 'rgba(255,255,255,0.28)'
          : mode === 'mix' ? `rgba(255,220,180,${0.45 + 0.55 * w})`
                           : `rgba(200,225,255,${0.45 + 0.55 * w})`;
      g.fill();
    }
    // Sounds (lattice anchors) as coloured rings.
    const k = M.layout.length;
    M.sounds.forEach((s, i) => {
      const x = ox + s.x * pw, y = oy + s.y * ph;
      g.beginPath();
      g.arc(x, y, 9, 0, Math.PI * 2);
      g.strokeStyle = soundColor(i);
      g.lineWidth = 2;
      g.stroke();
      if (k > 2 && s.corner === null) {
        g.fillStyle = 'rgba(232,235,242,0.8)';
        g.font = '11px system-ui, sans-serif';
        g.textAlign = s.x > 0.5 ? 'right' : 'left';
        g.fillText(s.name, x + (s.x > 0.5 ? -13 : 13), y - 11);
      }
    });
    dot.style.left = (pos.x * 100) + '%';
    dot.style.top = (pos.y * 100) + '%';
    updateReadout();
  }

  function roundRect(g, x, y, w, h, r) {
    g.beginPath();
    g.moveTo(x + r, y);
    g.arcTo(x + w, y, x + w, y + h, r);
    g.arcTo(x + w, y + h, x, y + h, r);
    g.arcTo(x, y + h, x, y, r);
    g.arcTo(x, y, x + w, y, r);
    g.closePath();
  }

  function scheduleDraw() {
    if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
  }

  function barRow(name, value, color) {
    const row = document.createElement('div');
    row.className = 'bar';
    row.innerHTML = '<span class="name"></span><span class="track">' +
        '<span class="fill"></span></span><span class="val"></span>';
    row.querySelector('.name').textContent = name;
    row.querySelector('.name').title = name;
    row.querySelector('.fill').style.width = (100 * value).toFixed(1) + '%';
    if (color) row.querySelector('.fill').style.background = color;
    row.querySelector('.val').textContent = value.toFixed(2);
    return row;
  }

  function updateReadout() {
    const sounds = new Array(M.sounds.length).fill(0);
    mix.points.forEach((p, i) => {
      M.points[p].weights.forEach((w, j) => { sounds[j] += mix.weights[i] * w; });
    });
    const order = sounds.map((w, i) => [w, i])
        .filter(([w, i]) => M.sounds.length <= 4 || w > 1e-3)
        .sort((a, b) => (M.sounds.length <= 4 ? a[1] - b[1] : b[0] - a[0]))
        .slice(0, 4);
    const sb = $('sound-bars');
    sb.replaceChildren(...order.map(([w, i]) =>
        barRow(M.sounds[i].name, w, soundColor(i))));
    const pb = $('point-bars');
    pb.replaceChildren(...mix.points.map((p, i) =>
        barRow('point ' + p, mix.weights[i], 'var(--accent-2)')));
    $('pos-readout').textContent =
        `x ${pos.x.toFixed(2)} · y ${pos.y.toFixed(2)}`;
  }

  // ---------------------------------------------------------------- status
  let statusQueued = false;
  function scheduleStatus() {
    if (!statusQueued) {
      statusQueued = true;
      setTimeout(() => { statusQueued = false; showStatus(); }, 60);
    }
  }
  let statusMessage = null, statusUntil = 0;
  function setStatus(text) {
    statusMessage = text;
    statusUntil = Date.now() + 2500;
    showStatus();
    setTimeout(showStatus, 2600);
  }
  function showStatus() {
    frame.classList.toggle('sounding', active.size > 0);
    const led = $('audio-led');
    led.classList.toggle('on', !!ctx && ctx.state === 'running');
    led.classList.toggle('error', !!lastError);
    let text;
    if (statusMessage && Date.now() < statusUntil) text = statusMessage;
    else if (lastError) text = lastError;
    else if (!ctx) text = 'press a key or click the pad to start audio';
    else text = `audio ${ctx.state} · ${sounding.size} voice` +
        (sounding.size === 1 ? '' : 's') + ` · ${decodedCount} notes decoded`;
    $('status').textContent = text;
  }
  function reportError(message) {
    lastError = message;
    console.error('[instrument] ' + message);
    showStatus();
  }

  // ------------------------------------------------------------------ init
  function init() {
    const labels = [0, 1, 2, 3].map((i) => M.sounds[i]);
    labels.forEach((s, i) => {
      const el = $('label-' + i);
      el.innerHTML = '<i></i><span></span>';
      el.querySelector('i').style.background = soundColor(i);
      el.querySelector('span').textContent = s.name;
      el.title = s.name + ' (' + s.corner + ')';
      if (i % 2 === 1) el.appendChild(el.querySelector('i'));
    });
    const lo = M.pitches[0], hi = M.pitches[M.pitches.length - 1];
    $('meta').textContent = [
      'WaveNet autoencoder',
      `${G} × ${G} grid`,
      M.sounds.length > 4 ? `${M.sounds.length} sounds` : null,
      `${M.pitches.length} pitch${M.pitches.length === 1 ? '' : 'es'} ` +
          `(${noteName(lo)}–${noteName(hi)})`,
      `${M.seconds} s notes`,
      `${(M.sample_rate / 1000).toFixed(M.sample_rate % 1000 ? 1 : 0)} kHz`,
    ].filter(Boolean).join(' · ');
    const mid = M.pitches[Math.floor((M.pitches.length - 1) / 2)];
    $('mode-latent').addEventListener('click', () => { ensureContext(); setMode('latent'); });
    $('mode-mix').addEventListener('click', () => { ensureContext(); setMode('mix'); });
    $('volume').addEventListener('input', (e) => {
      volume = Number(e.target.value);
      if (master) rampTo(master.gain, volume, ctx.currentTime, 0.03);
    });
    window.addEventListener('resize', scheduleDraw);
    keys = window.neuralsynthKeys.controls({
      low: lowKey, high: highKey, octave: 12 * Math.floor(mid / 12),
      rendered: M.pitches, noteOn, noteOff, allNotesOff, setPosition,
      position: () => pos, start: ensureContext,
      keys: {KeyM: () => setMode(mode === 'latent' ? 'mix' : 'latent')},
    });
    setMode('latent');
    setPosition(0.5, 0.5);
    if (!SAMPLES && location.protocol === 'file:') {
      reportError('samples.js did not load: keep it beside index.html');
    }
    showStatus();
  }

  init();

  window.instrument = {
    manifest: M,
    setPosition, noteOn, noteOff, allNotesOff, setMode, state,
    weightsAt: (x, y) => nearestGridPoints(x, y, G),
    regionFor,
    start: ensureContext,
    audioContext: () => ctx,
    fadeSeconds: FADE,
    ready: Promise.resolve(true),
  };
})();
