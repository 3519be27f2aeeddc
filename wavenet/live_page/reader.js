// neuralsynth wavenet.live: reads the PCM stream off the page's main thread.
//
// The page hands this worker the AudioWorklet player's port; the worker
// fetches /stream, turns int16 little-endian PCM into Float32Array blocks
// and posts them straight to the player, so a busy page (drawing, input)
// never delays the audio. The player's reports are passed on to the page.
'use strict';
onmessage = async (event) => {
  const port = event.data.port;
  port.onmessage = (e) => postMessage({report: e.data});
  try {
    const response = await fetch(event.data.url, {cache: 'no-store'});
    if (!response.ok) throw new Error('/stream: HTTP ' + response.status);
    postMessage({started: true});
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
      const n = bytes.length >> 1;
      const view = new DataView(bytes.buffer, bytes.byteOffset, 2 * n);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
      postMessage({received: n});
      port.postMessage(samples, [samples.buffer]);
    }
    port.postMessage({end: true});
    postMessage({ended: true});
  } catch (e) {
    postMessage({error: String(e)});
  }
};
