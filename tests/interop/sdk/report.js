// Shared by the interop pages: `report(event, data)` appends to the page and POSTs to /log
// (test-only route of bench/_chromium.py) one request at a time, so the test sees the
// page's order; uncaught errors are reported too.
"use strict";
const started = performance.now();
let seq = 0;
let chain = Promise.resolve();
function report(event, data) {
  const entry = { seq: seq++, t: Math.round(performance.now() - started), event, data };
  const out = document.getElementById("out");
  if (out.textContent.length < 200000) out.textContent += JSON.stringify(entry) + "\n";
  // One request at a time, so the test sees the page's order.
  chain = chain.then(() =>
    fetch("/log", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(entry),
    }).catch(() => undefined),
  );
  return chain;
}
function describeError(err) {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { message: String(err) };
}
window.addEventListener("error", (e) =>
  report("page_error", { message: String(e.message), source: e.filename, line: e.lineno }),
);
window.addEventListener("unhandledrejection", (e) =>
  report("page_error", { message: "unhandled rejection", reason: describeError(e.reason) }),
);

// The AudioContext of the remote mix's analyser.
let audioContext = null;
function context() {
  if (audioContext === null) audioContext = new AudioContext({ sampleRate: 48000 });
  return audioContext;
}

// An AnalyserNode on a stream's audio: the strongest frequency (FFT bin, refined by
// parabolic interpolation on the dB values) and the RMS level of the last window.
function analyse(stream) {
  const ctx = context();
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192; // 170 ms at 48 kHz, 5.9 Hz bins
  analyser.smoothingTimeConstant = 0;
  analyser.minDecibels = -120;
  analyser.maxDecibels = 0;
  source.connect(analyser);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const samples = new Float32Array(analyser.fftSize);
  const binHz = ctx.sampleRate / analyser.fftSize;
  return () => {
    analyser.getFloatFrequencyData(spectrum);
    analyser.getFloatTimeDomainData(samples);
    let best = -1;
    const first = Math.ceil(50 / binHz); // ignore DC and rumble below 50 Hz
    for (let i = first; i < spectrum.length - 1; i++) {
      if (best < 0 || spectrum[i] > spectrum[best]) best = i;
    }
    let peakHz = best * binHz;
    if (best > first) {
      const [a, b, c] = [spectrum[best - 1], spectrum[best], spectrum[best + 1]];
      const denom = a - 2 * b + c;
      if (Number.isFinite(denom) && denom !== 0) peakHz += (0.5 * (a - c) / denom) * binHz;
    }
    let sum = 0;
    let peak = 0;
    for (const x of samples) {
      sum += x * x;
      peak = Math.max(peak, Math.abs(x));
    }
    const rms = Math.sqrt(sum / samples.length);
    return {
      peakHz: Math.round(peakHz * 10) / 10,
      peakDb: Number.isFinite(spectrum[best]) ? Math.round(spectrum[best] * 10) / 10 : null,
      rmsDbfs: rms > 0 ? Math.round(20 * Math.log10(rms) * 10) / 10 : null,
      peakAbs: Math.round(peak * 1000) / 1000,
      contextState: ctx.state,
    };
  };
}
