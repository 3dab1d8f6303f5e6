// Validates the prometheus-operator resources in deploy/kubernetes offline
// with @kubernetes-models/prometheus-operator (built-in kinds are checked by
// the PyPI package kubernetes-validate, see scripts/test.sh).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(repo, 'deploy/kubernetes');
const models = { ServiceMonitor, PrometheusRule };
const seen = {};
let failed = 0;
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
  for (const doc of yaml.loadAll(fs.readFileSync(path.join(dir, f), 'utf8'))) {
    const Model = doc && models[doc.kind];
    if (!Model) continue;
    seen[doc.kind] = (seen[doc.kind] ?? 0) + 1;
    try {
      new Model(doc).validate();
      console.log(`${f}: ${doc.kind}/${doc.metadata.name} valid`);
    } catch (e) {
      failed++;
      console.error(`${f}: ${doc.kind}/${doc.metadata?.name} INVALID: ${e.message}`);
    }
  }
}
for (const kind of Object.keys(models)) {
  if (!seen[kind]) {
    failed++;
    console.error(`no ${kind} found in deploy/kubernetes`);
  }
}
process.exit(failed ? 1 : 0);
