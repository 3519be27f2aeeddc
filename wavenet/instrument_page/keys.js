// neuralsynth: how a player plays the instrument pages (wavenet.instrument's
// pre-rendered page and wavenet.live's page): the on-screen keyboard, the
// computer keyboard's piano keys (A W S E D F T G Y H U J K O L P ;, Z/X
// octave, arrows move the pad, Shift for big steps), the x-y pad's pointer
// and Web MIDI (notes, CC1 -> x, CC2 -> y, CC120/123 all notes off).
//
// window.neuralsynthKeys.controls(options) wires the page's #keyboard,
// #octave, #oct-down, #oct-up, #pad-frame, #pad, #midi-btn and
// #midi-status to the page's functions. Options:
//   low, high: the playable MIDI notes; octave: the computer keys' first C;
//   rendered: MIDI notes marked on the keyboard (optional);
//   noteOn(midi, velocity 1..127), noteOff(midi), allNotesOff(),
//   setPosition(x, y) and position() -> {x, y} (0..1, y down);
//   start(): the user's gesture that starts the audio;
//   keys: more computer keys, {KeyboardEvent.code: action} (optional).
// Returns {markKey(midi, down), releaseKeys(), octave()}; a page's
// allNotesOff calls releaseKeys (its held computer keys are forgotten).
'use strict';
window.neuralsynthKeys = (() => {
  const NOTE_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A',
                      'A#', 'B'];
  // Physical keys (KeyboardEvent.code) -> semitones above the octave's C.
  const KEYMAP = {
    KeyA: 0, KeyW: 1, KeyS: 2, KeyE: 3, KeyD: 4, KeyF: 5, KeyT: 6, KeyG: 7,
    KeyY: 8, KeyH: 9, KeyU: 10, KeyJ: 11, KeyK: 12, KeyO: 13, KeyL: 14,
    KeyP: 15, Semicolon: 16,
  };
  const KEY_LETTERS = {};
  for (const [code, semi] of Object.entries(KEYMAP)) {
    KEY_LETTERS[semi] = code === 'Semicolon' ? ';' : code.slice(3);
  }
  const VELOCITY = 100;  // of a key or a click
  const $ = (id) => document.getElementById(id);
  const noteName = (m) => NOTE_NAMES[m % 12] + (Math.floor(m / 12) - 1);

  function controls(o) {
    const keyEls = new Map();
    const heldCodes = new Map();  // KeyboardEvent.code -> midi
    const extraKeys = o.keys || {};
    let octaveBase = o.octave;

    // ------------------------------------------------------------ keyboard
    function buildKeyboard() {
      const kb = $('keyboard');
      kb.replaceChildren();
      const rendered = new Set(o.rendered || []);
      const isBlack = (m) => [1, 3, 6, 8, 10].includes(m % 12);
      let lo = o.low, hi = o.high;
      if (isBlack(lo)) lo--;
      if (isBlack(hi)) hi++;
      const whites = [];
      for (let m = lo; m <= hi; m++) if (!isBlack(m)) whites.push(m);
      const ww = 100 / whites.length;
      for (let m = lo; m <= hi; m++) {
        const el = document.createElement('div');
        el.className = 'key ' + (isBlack(m) ? 'black' : 'white');
        el.dataset.midi = m;
        if (isBlack(m)) {
          const left = whites.indexOf(m - 1) + 1;
          el.style.left = `calc(6px + (100% - 12px) * ${(left * ww - ww * 0.3) / 100})`;
          el.style.width = `calc((100% - 12px) * ${ww * 0.6 / 100})`;
        }
        const letter = document.createElement('span');
        letter.className = 'letter';
        el.appendChild(letter);
        if (m % 12 === 0) {
          const name = document.createElement('span');
          name.className = 'cname';
          name.textContent = noteName(m);
          el.appendChild(name);
        }
        if (rendered.has(m)) {
          const mark = document.createElement('span');
          mark.className = 'mark';
          mark.title = 'rendered';
          el.appendChild(mark);
        }
        if (m < o.low || m > o.high) el.style.opacity = '0.35';
        keyEls.set(m, el);
        kb.appendChild(el);
      }
      let mouseNote = null;
      kb.addEventListener('pointerdown', (e) => {
        const el = e.target.closest('.key');
        if (!el) return;
        kb.setPointerCapture(e.pointerId);
        mouseNote = Number(el.dataset.midi);
        o.noteOn(mouseNote, VELOCITY);
      });
      kb.addEventListener('pointermove', (e) => {
        if (mouseNote === null) return;
        const el = document.elementFromPoint(e.clientX, e.clientY);
        const key = el && el.closest && el.closest('.key');
        if (key && Number(key.dataset.midi) !== mouseNote) {
          o.noteOff(mouseNote);
          mouseNote = Number(key.dataset.midi);
          o.noteOn(mouseNote, VELOCITY);
        }
      });
      const up = () => { if (mouseNote !== null) o.noteOff(mouseNote); mouseNote = null; };
      kb.addEventListener('pointerup', up);
      kb.addEventListener('pointercancel', up);
      labelKeys();
    }

    function labelKeys() {
      for (const [m, el] of keyEls) {
        const semi = m - octaveBase;
        el.querySelector('.letter').textContent =
            semi in KEY_LETTERS ? KEY_LETTERS[semi] : '';
      }
      $('octave').textContent = noteName(octaveBase);
    }

    function markKey(midi, down) {
      const el = keyEls.get(midi);
      if (el) el.classList.toggle('down', down);
    }

    function shiftOctave(delta) {
      const next = octaveBase + 12 * delta;
      if (next + 16 < o.low || next > o.high) return;
      octaveBase = next;
      labelKeys();
    }

    function onKeyDown(e) {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const tag = (e.target && e.target.tagName) || '';
      if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
      if (e.code in KEYMAP) {
        e.preventDefault();
        if (e.repeat || heldCodes.has(e.code)) return;
        const midi = octaveBase + KEYMAP[e.code];
        heldCodes.set(e.code, midi);
        o.noteOn(midi, VELOCITY);
      } else if (e.code === 'KeyZ') {
        shiftOctave(-1);
      } else if (e.code === 'KeyX') {
        shiftOctave(1);
      } else if (e.code in extraKeys && !e.repeat) {
        extraKeys[e.code]();
      } else if (e.code.startsWith('Arrow')) {
        e.preventDefault();
        const step = e.shiftKey ? 0.1 : 0.02;
        const d = {ArrowLeft: [-step, 0], ArrowRight: [step, 0],
                   ArrowUp: [0, -step], ArrowDown: [0, step]}[e.code];
        const pos = o.position();
        o.setPosition(pos.x + d[0], pos.y + d[1]);
      }
    }

    function onKeyUp(e) {
      if (heldCodes.has(e.code)) {
        o.noteOff(heldCodes.get(e.code));
        heldCodes.delete(e.code);
      }
    }

    // ----------------------------------------------------------------- pad
    function setupPad() {
      const frame = $('pad-frame'), padEl = $('pad');
      const move = (e) => {
        const r = padEl.getBoundingClientRect();
        o.setPosition((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
      };
      let dragging = false;
      frame.addEventListener('pointerdown', (e) => {
        dragging = true;
        frame.classList.add('dragging');
        frame.setPointerCapture(e.pointerId);
        o.start();
        move(e);
      });
      frame.addEventListener('pointermove', (e) => { if (dragging) move(e); });
      const end = () => { dragging = false; frame.classList.remove('dragging'); };
      frame.addEventListener('pointerup', end);
      frame.addEventListener('pointercancel', end);
    }

    // ---------------------------------------------------------------- MIDI
    function onMidi(e) {
      const [s, d1, d2] = e.data;
      const type = s & 0xf0;
      if (type === 0x90 && d2 > 0) o.noteOn(d1, d2);
      else if (type === 0x80 || type === 0x90) o.noteOff(d1);
      else if (type === 0xb0) {
        const pos = o.position();
        if (d1 === 1) o.setPosition(d2 / 127, pos.y);
        else if (d1 === 2) o.setPosition(pos.x, d2 / 127);
        else if (d1 === 120 || d1 === 123) o.allNotesOff();
      }
    }

    function setupMidi() {
      const btn = $('midi-btn'), status = $('midi-status');
      if (typeof navigator.requestMIDIAccess !== 'function') {
        btn.disabled = true;
        status.textContent = 'Web MIDI is not available in this browser.';
        return;
      }
      status.textContent = 'Notes, CC1 → x, CC2 → y.';
      btn.addEventListener('click', async () => {
        o.start();
        try {
          const access = await navigator.requestMIDIAccess();
          const hook = () => {
            const inputs = [...access.inputs.values()];
            for (const input of inputs) input.onmidimessage = onMidi;
            status.textContent = inputs.length
                ? 'Listening to ' + inputs.map((i) => i.name).join(', ')
                : 'No MIDI inputs found; plug one in.';
          };
          hook();
          access.onstatechange = hook;
          btn.textContent = 'MIDI connected';
        } catch (err) {
          status.textContent = 'MIDI access was refused (' +
              (err && err.name || 'error') + ').';
        }
      });
    }

    $('oct-down').addEventListener('click', () => shiftOctave(-1));
    $('oct-up').addEventListener('click', () => shiftOctave(1));
    window.addEventListener('keydown', onKeyDown);
    window.addEventListener('keyup', onKeyUp);
    window.addEventListener('blur', () => o.allNotesOff());
    setupPad();
    setupMidi();
    buildKeyboard();
    return {markKey, releaseKeys: () => heldCodes.clear(),
            octave: () => octaveBase};
  }

  return {controls, noteName};
})();
