// The page: fills the controls from the registry, runs one TrainingSession at a time and draws it.
import 'mtljs';
import * as tf from '@tensorflow/tfjs-core';
import { defaultRegistry, isMtlError, useBackend } from '@mtljs/core';
import { registerBrowserBackends } from './browser-backends';
import { backendChoices, modelSpec, sharingChoices, siteChoices, weightingChoices, type WeightingChoice } from './catalog';
import { cosineChart, lossChart, validationChart, validationTable, weightChart } from './charts';
import { firstBatches, makeDataset, TrainingSession } from './session';
import { parseSettings, type RawSettings } from './settings';
import './style.css';

const registry = defaultRegistry();
registerBrowserBackends(registry);

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const form = element<HTMLFormElement>('settings');
const controls = {
  sharing: element<HTMLSelectElement>('sharing'),
  weighting: element<HTMLSelectElement>('weighting'),
  site: element<HTMLSelectElement>('site'),
  backend: element<HTMLSelectElement>('backend'),
  correlation: element<HTMLInputElement>('correlation'),
};
const buttons = { start: element<HTMLButtonElement>('start'), pause: element<HTMLButtonElement>('pause'), reset: element<HTMLButtonElement>('reset') };
const view = {
  status: element('status-text'),
  step: element('step-count'),
  epoch: element('epoch-count'),
  backend: element('backend-active'),
  tensors: element('tensor-count'),
  tensorRange: element('tensor-range'),
  speed: element('speed'),
  error: element('error'),
  lossChart: element('loss-chart'),
  weightChart: element('weight-chart'),
  validationChart: element('validation-chart'),
  cosineChart: element('cosine-chart'),
  validationTable: element('validation-table'),
  warnings: element('warnings'),
  sharingReason: element('sharing-reason'),
  weightingReason: element('weighting-reason'),
  backendReasons: element('backend-reasons'),
};

let session: TrainingSession | null = null;
let weightings: WeightingChoice[] = [];
/** True while a session is being created or disposed. */
let busy = false;
/** The strategy check in progress, which Start waits for (both switch backends). */
let refreshing: Promise<void> = Promise.resolve();
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

/** The controls are locked while a session exists or is being made. */
function locked(): boolean {
  return busy || session !== null;
}

function rawSettings(): RawSettings {
  const raw: Record<string, string> = {};
  for (const [key, value] of new FormData(form).entries()) raw[key] = String(value);
  return raw;
}

function showError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  view.error.textContent = isMtlError(error) ? `${error.code}: ${message}` : message;
  view.error.hidden = false;
  const fields = isMtlError(error) && Array.isArray(error.details['fields']) ? (error.details['fields'] as string[]) : [];
  for (const field of fields) form.querySelector(`[name="${field}"]`)?.classList.add('invalid');
}

function clearError(): void {
  view.error.hidden = true;
  view.error.textContent = '';
  for (const invalid of form.querySelectorAll('.invalid')) invalid.classList.remove('invalid');
}

function setOptions(select: HTMLSelectElement, options: { value: string; label: string; disabled?: boolean; title?: string }[], preferred: string[]): void {
  select.replaceChildren(
    ...options.map((option) => {
      const node = document.createElement('option');
      node.value = option.value;
      node.textContent = option.label;
      node.disabled = option.disabled ?? false;
      if (option.title) node.title = option.title;
      return node;
    }),
  );
  const pick = preferred.find((value) => options.some((o) => o.value === value && !o.disabled)) ?? options.find((o) => !o.disabled)?.value;
  if (pick !== undefined) select.value = pick;
}

/**
 * Which strategies build a model for the current dataset and layer sizes (MTAN needs a conv
 * encoder). The check builds small models on cpu: a strategy that warms up (clustered) reads
 * tensors synchronously, which WebGPU on a software adapter cannot.
 */
async function refreshSharings(): Promise<void> {
  let settings;
  try {
    settings = parseSettings(rawSettings());
  } catch {
    return; // the error is shown when Start is pressed
  }
  if (locked()) return;
  if (tf.getBackend() !== 'cpu') await useBackend('cpu', { registry, log: () => {} });
  const data = makeDataset({ ...settings, dataset: { ...settings.dataset, trainSize: Math.min(settings.dataset.trainSize, 4 * settings.dataset.batchSize) } });
  const choices = sharingChoices(registry, modelSpec(settings, data.tasks, data.inputShape), {
    tasks: data.tasks,
    warmupBatches: () => firstBatches(data.train, 1),
  });
  const previous = controls.sharing.value;
  setOptions(
    controls.sharing,
    choices.map((c) => ({ value: c.name, label: c.usable ? c.name : `${c.name} (does not fit)`, disabled: !c.usable, title: c.reason })),
    [previous, 'hard'],
  );
  const reasons = new Map(choices.map((c) => [c.name, c]));
  const describe = () => {
    const choice = reasons.get(controls.sharing.value);
    const unfit = choices.filter((c) => !c.usable).map((c) => `${c.name}: ${c.reason}`);
    view.sharingReason.textContent = `${choice ? choice.reason : ''}${unfit.length ? `. Not offered: ${unfit.join(' | ')}` : ''}`;
  };
  controls.sharing.onchange = () => {
    describe();
    refreshSites();
  };
  describe();
  refreshSites();
}

function refreshSites(): void {
  const weighting = weightings.find((w) => w.name === controls.weighting.value);
  if (!weighting) return;
  const sharing = registry.has('sharing', controls.sharing.value) ? registry.get('sharing', controls.sharing.value) : undefined;
  const sites = siteChoices(weighting, sharing);
  if (weighting.level === 'loss') {
    setOptions(controls.site, [{ value: '', label: '— (loss level)' }], ['']);
    controls.site.disabled = true;
  } else {
    setOptions(controls.site, sites.map((site, i) => ({ value: site, label: i === 0 && site === weighting.sites[0] ? `${site} (default)` : site })), [controls.site.value]);
    controls.site.disabled = locked();
  }
  view.weightingReason.textContent = weighting.reason;
}

async function refreshBackends(): Promise<void> {
  const choices = await backendChoices(registry.plugins('backend'));
  choices.sort((a, b) => b.priority - a.priority);
  setOptions(
    controls.backend,
    choices.map((c) => ({ value: c.name, label: c.usable ? c.name : `${c.name} (unavailable)`, disabled: !c.usable, title: c.reason })),
    [controls.backend.value, 'wasm'],
  );
  view.backendReasons.replaceChildren(
    ...choices.map((c) => {
      const item = document.createElement('li');
      item.dataset['backend'] = c.name;
      item.dataset['available'] = String(c.usable);
      item.className = c.usable ? '' : 'unavailable';
      item.textContent = `${c.name}: ${c.usable ? 'available' : 'unavailable'}: ${c.reason}`;
      return item;
    }),
  );
}

function setControlsEnabled(enabled: boolean): void {
  for (const field of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('fieldset input, fieldset select')) field.disabled = !enabled;
  if (enabled) refreshSites();
}

let frame = 0;
function scheduleRender(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function placeholder(text: string): string {
  return `<p class="placeholder">${text}</p>`;
}

let drawnSteps = -1;
let drawnEpochs = -1;
let drawnCosine = -1;

function render(): void {
  const current = session;
  view.status.textContent = current ? current.status : busy ? 'starting' : 'ready';
  view.backend.textContent = tf.getBackend() ?? '–';
  buttons.start.textContent = current?.status === 'paused' ? 'Resume' : 'Start';
  buttons.start.disabled = busy || (current !== null && current.status !== 'ready' && current.status !== 'paused');
  buttons.pause.disabled = current?.status !== 'running';
  buttons.reset.disabled = busy || current === null;
  if (!current) {
    view.step.textContent = '0';
    view.epoch.textContent = '0';
    view.tensors.textContent = String(tf.memory().numTensors);
    view.tensorRange.textContent = '';
    view.speed.textContent = '';
    view.lossChart.innerHTML = placeholder('Per-task training losses appear here once training starts.');
    view.weightChart.innerHTML = placeholder('Task weights appear here once training starts.');
    view.validationChart.innerHTML = placeholder('Validation losses appear after the first epoch.');
    view.cosineChart.innerHTML = placeholder('Mean cosine of the task gradients appears after the first steps.');
    view.validationTable.innerHTML = '';
    view.warnings.replaceChildren();
    drawnSteps = drawnEpochs = drawnCosine = -1;
    return;
  }
  view.step.textContent = String(current.stepCount);
  view.epoch.textContent = String(current.epochCount);
  const range = current.tensors;
  view.tensors.textContent = range ? String(range.last) : String(tf.memory().numTensors);
  if (range) {
    view.tensors.dataset['min'] = String(range.min);
    view.tensors.dataset['max'] = String(range.max);
    view.tensors.dataset['since'] = String(range.since);
    view.tensorRange.textContent = range.min === range.max ? `(flat since step ${range.since})` : `(since step ${range.since}: ${range.min}–${range.max})`;
  }
  const recent = current.steps.slice(-21);
  if (recent.length > 1) {
    const ms = (recent.at(-1)!.at - recent[0]!.at) / (recent.length - 1);
    view.speed.textContent = `${ms.toFixed(1)} ms/step`;
  }
  if (current.steps.length !== drawnSteps) {
    drawnSteps = current.steps.length;
    view.lossChart.innerHTML = lossChart(current.tasks, current.steps);
    view.weightChart.innerHTML = weightChart(current.tasks, current.steps);
  }
  if (current.epochs.length !== drawnEpochs) {
    drawnEpochs = current.epochs.length;
    view.validationChart.innerHTML = current.epochs.length ? validationChart(current.tasks, current.epochs) : placeholder('Validation losses appear after the first epoch.');
    view.validationTable.innerHTML = current.epochs.length ? validationTable(current.tasks, current.epochs) : '';
  }
  if (current.cosine && current.cosine.samples !== drawnCosine) {
    drawnCosine = current.cosine.samples;
    view.cosineChart.innerHTML = cosineChart(current.cosine);
  } else if (!current.cosine && current.cosineNote) {
    view.cosineChart.innerHTML = placeholder(current.cosineNote);
  }
  view.warnings.replaceChildren(
    ...current.warnings.map((warning) => {
      const item = document.createElement('li');
      item.textContent = warning;
      return item;
    }),
  );
  if (current.status === 'failed' && current.error) showError(current.error);
}

async function start(): Promise<void> {
  if (session) {
    session.start();
    render();
    return;
  }
  if (busy) return;
  clearError();
  let settings;
  try {
    settings = parseSettings(rawSettings());
  } catch (error) {
    showError(error);
    return;
  }
  busy = true;
  clearTimeout(refreshTimer);
  setControlsEnabled(false);
  render();
  await refreshing;
  try {
    session = await TrainingSession.create(settings, { registry, log: (message) => console.info(message) });
  } catch (error) {
    busy = false;
    showError(error);
    setControlsEnabled(true);
    render();
    return;
  }
  busy = false;
  session.subscribe(scheduleRender);
  session.start();
  render();
}

async function reset(): Promise<void> {
  const current = session;
  if (!current) return;
  busy = true;
  render();
  await current.dispose();
  session = null;
  busy = false;
  clearError();
  setControlsEnabled(true);
  // The dataset may have been edited just before Start, after the last check.
  refreshing = refreshSharings().catch(showError);
  render();
}

buttons.start.addEventListener('click', () => void start());
buttons.pause.addEventListener('click', () => {
  session?.pause();
  render();
});
buttons.reset.addEventListener('click', () => void reset());
controls.weighting.addEventListener('change', refreshSites);
controls.correlation.addEventListener('input', () => {
  element('correlation-value').textContent = Number(controls.correlation.value).toFixed(2);
});
form.addEventListener('change', (event) => {
  const name = (event.target as HTMLInputElement).name;
  if (['tasks', 'kind', 'inputDim', 'encoderUnits', 'headUnits', 'batchSize'].includes(name)) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refreshing = refreshSharings().catch(showError);
    }, 100);
  }
});

async function init(): Promise<void> {
  // Strategies are checked by building small models, which needs a backend: cpu always starts.
  await useBackend('cpu', { registry, log: () => {} });
  weightings = weightingChoices(registry);
  setOptions(
    controls.weighting,
    weightings.map((w) => ({ value: w.name, label: `${w.name} (${w.level})`, title: w.reason })),
    ['ew'],
  );
  refreshing = refreshSharings();
  await refreshing;
  await refreshBackends();
  document.body.dataset['ready'] = 'true';
  render();
}

init().catch((error) => {
  showError(error);
  console.error(error);
});
