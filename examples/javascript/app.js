// The contract app (examples/CONTRACT.md) in JavaScript, made a WASI 0.2
// component by componentize-js (SpiderMonkey inside). The engine gives
// console.log; arguments, environment, files and the exit status come
// straight from the WASI interfaces imported by wit/world.wit.
import { getArguments, getEnvironment } from "wasi:cli/environment@0.2.12";
import { exitWithCode } from "wasi:cli/exit@0.2.12";
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";

const LANGUAGE = "JavaScript";

// The preopened folder the host named `name`.
function preopen(name) {
  const found = getDirectories().find(([, path]) => path === name);
  if (!found) throw new Error(`${name} is not mounted`);
  return found[0];
}

function readText(dir, file) {
  const fd = preopen(dir).openAt({}, file, {}, { read: true });
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [bytes, end] = fd.read(65536n, offset);
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (end || bytes.length === 0) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

function writeText(dir, file, text) {
  const fd = preopen(dir).openAt({}, file, { create: true, truncate: true }, { write: true });
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    offset += Number(fd.write(bytes.subarray(offset), BigInt(offset)));
  }
}

export const run = {
  run() {
    console.log(`Hello from ${LANGUAGE}!`);

    const args = getArguments().slice(1);
    console.log(["args:", ...args.map((a) => `[${a}]`)].join(" "));

    const greeting = getEnvironment().find(([name]) => name === "GREETING");
    console.log(greeting ? `GREETING=${greeting[1]}` : "GREETING is not set");

    const first = readText("/input", "message.txt").split("\n")[0].replace(/\r$/, "");
    console.log(`input: ${first}`);

    writeText("/output", "result.txt", `${LANGUAGE} read: ${first}\n`);
    console.log("wrote /output/result.txt");

    exitWithCode(args.length > 0 ? Number.parseInt(args[0], 10) : 0);
  },
};
