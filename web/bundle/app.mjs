// Loads model.onnx and labels.json (feature and class names taken from the model's
// metadata when the bundle was built), builds a form and classifies the typed values.
import * as ort from './ort/ort.wasm.min.mjs';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

const $ = (id) => document.getElementById(id);
const result = $('result');

function softmax(v) {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function done(html, label) {
  result.innerHTML = html;
  result.dataset.label = label ?? '';
  result.dataset.done = '1';
}

async function main() {
  const labels = await (await fetch('labels.json')).json();
  const resp = await fetch(labels.model);
  if (!resp.ok) throw new Error(`cannot fetch ${labels.model}: HTTP ${resp.status}`);
  const session = await ort.InferenceSession.create(new Uint8Array(await resp.arrayBuffer()), { executionProviders: ['wasm'] });
  $('title').textContent = `${labels.dataset || 'irisonnx'} classifier`;
  const form = $('form');
  labels.feature_names.forEach((name, i) => {
    const unit = (labels.feature_units || {})[name];
    const lab = document.createElement('label');
    lab.htmlFor = `feature-${i}`;
    lab.textContent = unit ? `${name} (${unit})` : name;
    const inp = document.createElement('input');
    inp.id = `feature-${i}`;
    inp.type = 'number';
    inp.step = 'any';
    inp.required = true;
    form.append(lab, inp);
  });
  const btn = document.createElement('button');
  btn.id = 'classify';
  btn.textContent = 'Classify';
  form.append(btn);
  btn.addEventListener('click', async () => {
    try {
      const vals = labels.feature_names.map((_, i) => $(`feature-${i}`).value.trim());
      const bad = vals.findIndex((v) => v === '' || !Number.isFinite(Number(v)));
      if (bad >= 0) return done(`<span class="err">enter a number for ${labels.feature_names[bad]}</span>`, '');
      const x = new Float32Array(vals.map(Number));
      const out = await session.run({ [labels.input]: new ort.Tensor('float32', x, [1, x.length]) });
      const logits = Array.from(out[labels.logits].data);
      const probs = softmax(logits);
      const k = probs.indexOf(Math.max(...probs));
      const rows = labels.class_names.map((c, i) => `<tr><td>${c}</td><td>${(probs[i] * 100).toFixed(1)}%</td></tr>`).join('');
      done(`<strong id="label">${labels.class_names[k]}</strong><table>${rows}</table>`, labels.class_names[k]);
    } catch (e) {
      done(`<span class="err">error: ${e.message}</span>`, '');
    }
  });
  $('status').textContent = `model loaded (onnxruntime-web ${ort.env.versions?.web ?? ''}); enter measurements:`;
  window.irisonnxReady = true;
}

main().catch((e) => {
  $('status').innerHTML = `<span class="err">error: ${e.message}</span>`;
  window.irisonnxReady = 'error: ' + e.message;
});
