import { getArguments } from "wasi:cli/environment@0.2.12";

export const run = {
  run() {
    console.log("Hello from JavaScript! This is {{name}}.");
    console.log(["args:", ...getArguments().slice(1)].join(" "));
  },
};
