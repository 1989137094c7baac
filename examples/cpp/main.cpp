// The contract app (examples/CONTRACT.md) in C++, a WASI preview-1 module.
// Debian's wasm libc++ has no file streams (<fstream>), so files go through
// C stdio; everything else is the C++ library.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

static const std::string kLanguage = "C++";

int main(int argc, char **argv) {
    std::cout << "Hello from " << kLanguage << "!\n";

    std::vector<std::string> args(argv + 1, argv + argc);
    std::cout << "args:";
    for (const auto &a : args) std::cout << " [" << a << "]";
    std::cout << "\n";

    if (const char *greeting = std::getenv("GREETING")) std::cout << "GREETING=" << greeting << "\n";
    else std::cout << "GREETING is not set\n";

    std::FILE *in = std::fopen("/input/message.txt", "r");
    if (!in) { std::perror("error: /input/message.txt"); return 1; }
    std::string line;
    for (int c; (c = std::fgetc(in)) != EOF && c != '\n';) line.push_back(static_cast<char>(c));
    std::fclose(in);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::cout << "input: " << line << "\n";

    std::FILE *out = std::fopen("/output/result.txt", "w");
    if (!out) { std::perror("error: /output/result.txt"); return 1; }
    std::string text = kLanguage + " read: " + line + "\n";
    std::fputs(text.c_str(), out);
    if (std::fclose(out) != 0) { std::perror("error: /output/result.txt"); return 1; }
    std::cout << "wrote /output/result.txt\n" << std::flush;

    return args.empty() ? 0 : std::atoi(args[0].c_str());
}
