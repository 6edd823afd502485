use sharelife_sdk::prelude::*;

#[derive(Default)]
struct Notes;

#[plugin(id = "acme.notes", capability(file, access = "read", path = "notes/*.txt"))]
impl Plugin for Notes {
    #[handler(uses(file.raed))]
    fn read(&self) -> &'static str {
        "ok"
    }

    #[handler(uses(command.exec))]
    fn run(&self) -> &'static str {
        "ok"
    }
}

fn main() {}
