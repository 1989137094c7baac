package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Println("Hello from Go! This is {{name}}.")
	fmt.Println(strings.Join(append([]string{"args:"}, os.Args[1:]...), " "))
}
