// The contract app (examples/CONTRACT.md) in Go, a WASI preview-1 module
// (GOOS=wasip1).
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

const language = "Go"

func fail(err error) {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	os.Exit(1)
}

func main() {
	fmt.Printf("Hello from %s!\n", language)

	args := os.Args[1:]
	listed := make([]string, len(args))
	for i, a := range args {
		listed[i] = "[" + a + "]"
	}
	fmt.Println(strings.TrimRight("args: "+strings.Join(listed, " "), " "))

	if greeting, ok := os.LookupEnv("GREETING"); ok {
		fmt.Printf("GREETING=%s\n", greeting)
	} else {
		fmt.Println("GREETING is not set")
	}

	in, err := os.Open("/input/message.txt")
	if err != nil {
		fail(err)
	}
	first, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && first == "" {
		fail(err)
	}
	in.Close()
	first = strings.TrimRight(first, "\r\n")
	fmt.Printf("input: %s\n", first)

	if err := os.WriteFile("/output/result.txt", []byte(language+" read: "+first+"\n"), 0o644); err != nil {
		fail(err)
	}
	fmt.Println("wrote /output/result.txt")

	code := 0
	if len(args) > 0 {
		code, _ = strconv.Atoi(args[0])
	}
	os.Exit(code)
}
