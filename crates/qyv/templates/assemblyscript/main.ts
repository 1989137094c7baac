// `console` and `process` come from @assemblyscript/wasi-shim.
console.log("Hello from AssemblyScript! This is {{name}}.");
console.log(["args:"].concat(process.argv.slice(1)).join(" "));
