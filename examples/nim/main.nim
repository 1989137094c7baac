## The contract app (examples/CONTRACT.md) in Nim: Nim compiles to C, and
## clang-19 builds that C for wasm32-wasi against wasi-libc, giving a WASI
## preview-1 module (see nim.cfg for the target settings).
import std/[os, strutils]

# Nim's own C `main` takes a third argument (envp), which wasi-libc's
# start code does not pass, so nim.cfg turns it off (noMain) and this is
# the two-argument `main` WASI calls, setting what paramStr reads.
{.emit: """
int cmdCount;
char **cmdLine;
void NimMain(void);
int main(int argc, char **argv) {
  cmdCount = argc;
  cmdLine = argv;
  NimMain();
  return 0;
}
""".}

const language = "Nim"

proc main(): int =
  echo "Hello from ", language, "!"

  var listed = "args:"
  for i in 1 .. paramCount():
    listed.add " [" & paramStr(i) & "]"
  echo listed

  if existsEnv("GREETING"):
    echo "GREETING=", getEnv("GREETING")
  else:
    echo "GREETING is not set"

  var first = ""
  let input = open("/input/message.txt")
  discard input.readLine(first)
  input.close()
  first.removeSuffix('\r')
  echo "input: ", first

  writeFile("/output/result.txt", language & " read: " & first & "\n")
  echo "wrote /output/result.txt"

  if paramCount() >= 1: parseInt(paramStr(1)) else: 0

quit(main())
