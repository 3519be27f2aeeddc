// neuralsynth live: the AudioWorklet that plays the stream.
//
// The page posts Float32Array blocks of samples (at the AudioContext's rate,
// which is the stream's) into a ring buffer; each render quantum takes the
// next 128 samples. Playback starts once `startSamples` are buffered; if the
// buffer runs dry while playing, that is an underrun: it is counted, the
// quantum is padded with silence and playback waits for `startSamples`
// again. A buffer that would overflow (the page was throttled, or the sound
// card's clock runs slower than the server's) drops its oldest samples.
// Every `reportQuanta` quanta it reports to the page: the peaks (min, max)
// of each quantum played, the samples buffered, underruns and overflows.

class LivePlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.ring = new Float32Array(o.capacitySamples);
    this.startSamples = o.startSamples;
    this.reportQuanta = o.reportQuanta;
    this.read = 0;
    this.count = 0;
    this.playing = false;
    this.ended = false;
    this.underruns = 0;
    this.droppedSamples = 0;
    this.playedSamples = 0;
    this.peaks = [];
    this.port.onmessage = (event) => {
      if (event.data instanceof Float32Array) this.push(event.data);
      else if (event.data.end) this.ended = true;
    };
  }

  push(samples) {
    const size = this.ring.length;
    if (samples.length > size) samples = samples.subarray(samples.length - size);
    const excess = this.count + samples.length - size;
    if (excess > 0) {  // drop the oldest
      this.read = (this.read + excess) % size;
      this.count -= excess;
      this.droppedSamples += excess;
    }
    let write = (this.read + this.count) % size;
    const first = Math.min(samples.length, size - write);
    this.ring.set(samples.subarray(0, first), write);
    this.ring.set(samples.subarray(first), 0);
    this.count += samples.length;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    out.fill(0);
    if (!this.playing && this.count >= this.startSamples) this.playing = true;
    if (this.playing) {
      const n = Math.min(this.count, out.length);
      const size = this.ring.length;
      const first = Math.min(n, size - this.read);
      out.set(this.ring.subarray(this.read, this.read + first), 0);
      out.set(this.ring.subarray(0, n - first), first);
      this.read = (this.read + n) % size;
      this.count -= n;
      this.playedSamples += n;
      if (n < out.length) {
        this.playing = false;
        if (!this.ended) this.underruns += 1;
      }
    }
    let low = 0, high = 0;
    for (let i = 0; i < out.length; i++) {
      if (out[i] < low) low = out[i];
      if (out[i] > high) high = out[i];
    }
    this.peaks.push(low, high);
    if (this.peaks.length >= 2 * this.reportQuanta) {
      this.port.postMessage({
        peaks: new Float32Array(this.peaks), buffered: this.count,
        playing: this.playing, underruns: this.underruns,
        droppedSamples: this.droppedSamples, playedSamples: this.playedSamples});
      this.peaks = [];
    }
    return true;
  }
}

registerProcessor('live-player', LivePlayer);
