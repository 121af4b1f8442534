// Loads model.onnx and labels.json (feature and class names taken from the model's
// metadata when the bundle was built), builds a form and classifies the typed values.
// Every string from the data or the model (class, feature and dataset names, units, error
// messages) reaches the page as text: createElement + textContent, never innerHTML.
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

// An element with text (never parsed as HTML), and optional attributes.
function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function done(nodes, label) {
  result.replaceChildren(...nodes);
  result.dataset.label = label ?? '';
  result.dataset.done = '1';
}

const failed = (message) => [el('span', message, { class: 'err' })];

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
      if (bad >= 0) return done(failed(`enter a number for ${labels.feature_names[bad]}`), '');
      const x = new Float32Array(vals.map(Number));
      const out = await session.run({ [labels.input]: new ort.Tensor('float32', x, [1, x.length]) });
      const logits = Array.from(out[labels.logits].data);
      const probs = softmax(logits);
      const k = probs.indexOf(Math.max(...probs));
      const table = el('table');
      labels.class_names.forEach((c, i) => {
        const tr = el('tr');
        tr.append(el('td', c), el('td', `${(probs[i] * 100).toFixed(1)}%`));
        table.append(tr);
      });
      done([el('strong', labels.class_names[k], { id: 'label' }), table], labels.class_names[k]);
    } catch (e) {
      done(failed(`error: ${e.message}`), '');
    }
  });
  $('status').textContent = `model loaded (onnxruntime-web ${ort.env.versions?.web ?? ''}); enter measurements:`;
  window.irisonnxReady = true;
}

main().catch((e) => {
  $('status').replaceChildren(...failed(`error: ${e.message}`));
  window.irisonnxReady = 'error: ' + e.message;
});
