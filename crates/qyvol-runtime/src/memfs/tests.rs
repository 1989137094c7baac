use super::bindings::wasi::filesystem::types::ErrorCode;
use super::tree::{MemFs, NODE_COST, OpenHow, ROOT};

fn create() -> OpenHow {
    OpenHow {
        create: true,
        ..OpenHow::default()
    }
}

#[test]
fn writes_past_the_cap_fail_and_change_nothing() {
    let fs = MemFs::new(NODE_COST * 2 + 1 + 100, true);
    let mut t = fs.lock();
    let f = t.open(ROOT, "a", create()).unwrap();
    assert_eq!(t.write(f, 0, &[1; 100]).unwrap(), 100);
    assert_eq!(t.write(f, 100, &[2; 1]), Err(ErrorCode::InsufficientSpace));
    assert_eq!(t.size(f).unwrap(), 100);
    // Rewriting inside the file costs nothing.
    assert_eq!(t.write(f, 50, &[3; 50]).unwrap(), 50);
    t.set_size(f, 10).unwrap();
    assert_eq!(t.write(f, 10, &[4; 90]).unwrap(), 90);
    assert_eq!(t.usage().0, t.usage().1);
}

#[test]
fn dot_dot_never_leaves_the_starting_folder() {
    let fs = MemFs::new(1 << 20, true);
    let mut t = fs.lock();
    t.create_dir(ROOT, "d").unwrap();
    let d = t.lookup(ROOT, "d").unwrap();
    assert_eq!(t.lookup(d, ".."), Err(ErrorCode::NotPermitted));
    assert_eq!(t.lookup(d, "../d"), Err(ErrorCode::NotPermitted));
    assert_eq!(t.lookup(ROOT, "d/.."), Ok(ROOT));
    assert_eq!(t.lookup(ROOT, "/d"), Err(ErrorCode::NotPermitted));
    assert_eq!(t.lookup(ROOT, "d/../../x"), Err(ErrorCode::NotPermitted));
}

#[test]
fn an_unlinked_open_file_lives_until_closed() {
    let fs = MemFs::new(1 << 20, true);
    let f = fs.lock().open(ROOT, "f", create()).unwrap();
    fs.lock().write(f, 0, b"still here").unwrap();
    let held = fs.hold(f);
    let before = fs.lock().usage().0;
    fs.lock().unlink(ROOT, "f").unwrap();
    assert_eq!(fs.lock().lookup(ROOT, "f"), Err(ErrorCode::NoEntry));
    assert_eq!(fs.lock().read(f, 0, 100).unwrap().0, b"still here");
    drop(held);
    assert_eq!(fs.lock().read(f, 0, 1), Err(ErrorCode::BadDescriptor));
    assert!(fs.lock().usage().0 < before - 10);
}

#[test]
fn rename_replaces_and_refuses_what_posix_refuses() {
    let fs = MemFs::new(1 << 20, true);
    let mut t = fs.lock();
    let a = t.open(ROOT, "a", create()).unwrap();
    t.write(a, 0, b"A").unwrap();
    let b = t.open(ROOT, "b", create()).unwrap();
    t.write(b, 0, b"B").unwrap();
    t.rename(ROOT, "a", ROOT, "b").unwrap();
    assert_eq!(t.lookup(ROOT, "b"), Ok(a));
    assert_eq!(t.lookup(ROOT, "a"), Err(ErrorCode::NoEntry));
    t.create_dir(ROOT, "d").unwrap();
    t.create_dir(ROOT, "d/e").unwrap();
    assert_eq!(t.rename(ROOT, "d", ROOT, "d/e/f"), Err(ErrorCode::Invalid));
    assert_eq!(t.rename(ROOT, "b", ROOT, "d"), Err(ErrorCode::IsDirectory));
    assert_eq!(t.rename(ROOT, "d", ROOT, "b"), Err(ErrorCode::NotDirectory));
    t.rename(ROOT, "d/e", ROOT, "e").unwrap();
    let names: Vec<_> = t.list(ROOT).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["b", "d", "e"]);
}

#[test]
fn folders_must_be_empty_to_go() {
    let fs = MemFs::new(1 << 20, true);
    let mut t = fs.lock();
    t.create_dir(ROOT, "d").unwrap();
    t.open(ROOT, "d/f", create()).unwrap();
    assert_eq!(t.remove_dir(ROOT, "d"), Err(ErrorCode::NotEmpty));
    assert_eq!(t.unlink(ROOT, "d"), Err(ErrorCode::IsDirectory));
    t.unlink(ROOT, "d/f").unwrap();
    t.remove_dir(ROOT, "d").unwrap();
    assert_eq!(t.create_dir(ROOT, "x/y"), Err(ErrorCode::NoEntry));
}

#[test]
fn a_seed_is_copied_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/hello.txt"), b"hello").unwrap();
    let mount = super::MemMount {
        guest: "/w".into(),
        size: 1 << 20,
        seed: Some(dir.path().to_path_buf()),
        writable: false,
    };
    let ctx = super::MemFsCtx::new(std::slice::from_ref(&mount)).unwrap();
    let fs = &ctx.mounts[0].0;
    let t = fs.lock();
    let f = t.lookup(ROOT, "sub/hello.txt").unwrap();
    assert_eq!(t.size(f).unwrap(), 5);
    drop(t);
    let small = super::MemMount { size: 200, ..mount };
    assert!(matches!(
        super::MemFsCtx::new(&[small]),
        Err(super::MemFsError::SeedTooBig { .. })
    ));
}
