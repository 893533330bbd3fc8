//! Content-addressed files (artifacts): stored once under their sha256.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: impl Into<PathBuf>) -> BlobStore {
        BlobStore { dir: dir.into() }
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(sha256)
    }

    /// Copy `source` in, returning its sha256 and size. Storing the same content twice keeps
    /// one copy. The file appears under its final name only when complete.
    pub fn put_file(&self, source: &Path) -> io::Result<(String, u64)> {
        fs::create_dir_all(&self.dir)?;
        let mut input = File::open(source)?;
        let tmp = self
            .dir
            .join(format!(".incoming-{}-{}", std::process::id(), unique()));
        let mut output = File::create(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        let result = (|| {
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                output.write_all(&buf[..n])?;
                size += n as u64;
            }
            output.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let sha = hex::encode(hasher.finalize());
        let dest = self.path(&sha);
        if dest.exists() {
            fs::remove_file(&tmp)?;
        } else {
            fs::create_dir_all(dest.parent().expect("blob path has a parent"))?;
            fs::rename(&tmp, &dest)?;
        }
        Ok((sha, size))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}
