'use strict';
const fs = require('fs'); const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
async function main() {
  const [model, n] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: '/tmp/ortprof' });
  const data = new Float32Array(3*224*224).fill(0.5);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [1,3,224,224]) };
  for (let i = 0; i < Number(n); i++) await session.run(feeds);
  session.endProfiling();
}
main();
