// Grammars and maps are embedded with include_dir; rebuild when an analyst edits them.
fn main() {
    println!("cargo:rerun-if-changed=grammars");
    println!("cargo:rerun-if-changed=maps");
}
