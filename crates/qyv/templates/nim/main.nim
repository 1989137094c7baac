import std/[os, strutils]

# Nim's own C `main` takes a third argument (envp) that WASI's start code
# does not pass; nim.cfg turns it off (noMain) and this is the `main` WASI
# calls, setting what paramStr reads.
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

echo "Hello from Nim! This is {{name}}."
var args: seq[string]
for i in 1 .. paramCount(): args.add paramStr(i)
echo "args:", (if args.len > 0: " " & args.join(" ") else: "")
