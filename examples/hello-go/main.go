// Hello in Go, built for WASI preview 1 (GOOS=wasip1 GOARCH=wasm).
package main

import "fmt"

func main() {
	fmt.Println("Hello from Go!")
}
