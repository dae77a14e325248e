//! The trust boundary: files and remotes written by someone else (pointer files, the lock,
//! pipeline and params files, `.cairn/` contents, objects, pack indexes and run-cache entries on a
//! remote, HTTP clients) never make cairn read, write or delete outside its workspace, lose what
//! it recorded, hang, or answer wrongly. Each test builds the hostile input itself.

mod fuzz;
mod paths;
mod pipeline;
mod remote;
mod serve;
