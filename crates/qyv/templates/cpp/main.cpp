#include <iostream>
#include <string>

int main(int argc, char **argv) {
    std::cout << "Hello from C++! This is {{name}}.\nargs:";
    for (int i = 1; i < argc; i++) std::cout << " " << argv[i];
    std::cout << "\n";
    return 0;
}
