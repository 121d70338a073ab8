// ort_worker.js - ONNX Runtime peer for bench/compare (run by Node).
//
// usage: node ort_worker.js MODEL.onnx INPUT.bin C H W THREADS
// Loads the model (intra-op threads = THREADS, inter-op 1, sequential, all graph
// optimisations), then answers commands on stdin, one JSON line each on stdout:
//   run N        -> {"times_ms": [...]}     N timed runs on INPUT.bin (float32 NCHW)
//   dump PREFIX  -> {"outputs": [[c,h,w], ...]}  writes output i as PREFIX<i>.bin (float32)
//   quit         -> {"rss_mb": peak resident memory of this process}
// The first line is {"ready": true, "load_ms": ..., "version": ...}.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function reply(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

async function main() {
  const [model, inputPath, c, h, w, threads] = process.argv.slice(2);
  const dims = [1, Number(c), Number(h), Number(w)];
  const buf = fs.readFileSync(inputPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  let version = 'unknown';
  try {
    version = JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', 'onnxruntime-node',
      'package.json'))).version;
  } catch (e) { /* keep unknown */ }
  reply({ ready: true, load_ms: loadMs, version });

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'run') {
      const times = [];
      for (let i = 0; i < Number(arg); i++) {
        const s = process.hrtime.bigint();
        await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      reply({ times_ms: times });
    } else if (cmd === 'dump') {
      const out = await session.run(feeds);
      const shapes = [];
      session.outputNames.forEach((name, i) => {
        const t = out[name];
        fs.writeFileSync(arg + i + '.bin', Buffer.from(t.data.buffer, t.data.byteOffset,
          t.data.byteLength));
        shapes.push(t.dims.slice(1));
      });
      reply({ outputs: shapes });
    } else if (cmd === 'quit') {
      reply({ rss_mb: process.resourceUsage().maxRSS / 1024 });
      break;
    } else {
      reply({ error: 'unknown command ' + cmd });
    }
  }
  process.exit(0);
}

main().catch((e) => { reply({ error: String(e && e.stack || e) }); process.exit(1); });
