//! `wasi:filesystem` as a granted plugin sees it: wasmtime-wasi's own
//! implementation (which already confines every path to its preopened
//! directory through cap-std), wrapped so that each call also obeys the
//! grant it falls in (`plugin/grants.rs`):
//!
//! - no symbolic links: none can be made (`symlink-at`, and `link-at` for
//!   hard links, are refused in every grant), and a path that passes
//!   through or ends at one is refused before wasmtime-wasi sees it;
//! - `read`: nothing is created, written, truncated, deleted or renamed;
//! - `append`: files and directories may be created and bytes added at a
//!   file's end; a write that would change an existing byte, truncation,
//!   `set-size`, delete, rename and `set-times` are refused;
//! - `read-write`: everything, within the budget;
//! - every write that would take the directory's files past `max-size` is
//!   refused with `insufficient-space` (the plugin sees an error, nothing
//!   traps) and counted in `rill_grant_writes_refused_total`.
//!
//! Refusals are `not-permitted` unless said otherwise. The linker gets
//! these in place of wasmtime-wasi's (`link`), for every world.
//!
//! Writes to a granted regular file go straight to the file on the calling
//! thread ([`BudgetedStream`]'s direct mode): wasmtime-wasi would hand each
//! one to its blocking thread pool and wait, a thread hand-off per write
//! that cost the logging interceptors more than the writing. Every other
//! call (an open, a stat, a write to anything but a regular file, which
//! could block for good) still goes through wasmtime-wasi, so a plugin
//! call blocked there is abandoned at its time limit as before.

use super::HostState;
use super::grants::{Granted, Grants};
use crate::manifest::GrantAccess;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DirectoryEntryStream, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynOutputStream, FsResult, OutputStream, Pollable, StreamError, StreamResult};

/// Which grant each open descriptor of one instance belongs to.
pub struct GrantTable {
    /// The plugin's grants, in preopen order.
    pub(super) grants: Grants,
    /// Descriptor (its resource index) to grant (its index).
    owners: HashMap<u32, usize>,
}

impl GrantTable {
    /// An instance's table: no descriptor open yet.
    pub fn new(grants: Grants) -> GrantTable {
        GrantTable {
            grants,
            owners: HashMap::new(),
        }
    }
}

/// What the `wasi:filesystem` host functions see: wasmtime-wasi's view and
/// the instance's grants.
pub struct GrantedFs<'a> {
    /// wasmtime-wasi's implementation, which does the work.
    pub(super) fs: WasiFilesystemCtxView<'a>,
    /// The grants the work must stay within.
    pub(super) grants: &'a mut GrantTable,
}

/// Names [`GrantedFs`] for bindgen's `add_to_linker`.
struct GrantedFsData;

impl HasData for GrantedFsData {
    type Data<'a> = GrantedFs<'a>;
}

/// Replaces wasmtime-wasi's `wasi:filesystem/types` and `preopens` in
/// `linker` (which must already hold wasmtime-wasi's) by the granted ones.
pub fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked = types::add_to_linker::<HostState, GrantedFsData>(linker, HostState::granted_fs)
        .and_then(|()| preopens::add_to_linker::<HostState, GrantedFsData>(linker, HostState::granted_fs));
    linker.allow_shadowing(false);
    linked
}

/// A refusal the plugin sees as `code`, carried through a stream's error.
#[derive(Debug, thiserror::Error)]
#[error("refused by the plugin's grant: {0:?}")]
struct Refused(ErrorCode);

fn refuse<T>(code: ErrorCode) -> FsResult<T> {
    Err(code.into())
}

impl GrantedFs<'_> {
    /// The grant `fd` belongs to.
    fn owner(&self, fd: &Resource<Descriptor>) -> FsResult<(usize, &Granted)> {
        self.grants
            .owners
            .get(&fd.rep())
            .and_then(|&i| self.grants.grants.get(i).map(|g| (i, g)))
            .ok_or_else(|| ErrorCode::BadDescriptor.into())
    }

    /// Refuses unless `fd`'s grant allows `needed` (`Append` allows
    /// `Append`; `ReadWrite` allows both).
    fn require(&self, fd: &Resource<Descriptor>, needed: GrantAccess) -> FsResult<usize> {
        let (index, granted) = self.owner(fd)?;
        let allowed = match (granted.access(), needed) {
            (GrantAccess::ReadWrite, _) => true,
            (GrantAccess::Append, GrantAccess::Append) => true,
            (_, GrantAccess::Read) => true,
            _ => false,
        };
        if allowed {
            Ok(index)
        } else {
            refuse(ErrorCode::NotPermitted)
        }
    }

    /// Refuses `path` (under directory `fd`) if a symbolic link is on it:
    /// each segment before the last, and the last one too when `last`.
    /// Segments that do not exist end the check (they cannot be links).
    async fn no_links(&mut self, fd: &Resource<Descriptor>, path: &str, last: bool) -> FsResult<()> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        let checked = if last {
            segments.len()
        } else {
            segments.len().saturating_sub(1)
        };
        for end in 1..=checked {
            let prefix = segments[..end].join("/");
            let dir = Resource::<Descriptor>::new_borrow(fd.rep());
            match HostDescriptor::stat_at(&mut self.fs, dir, types::PathFlags::empty(), prefix).await {
                Ok(stat) if stat.type_ == types::DescriptorType::SymbolicLink => {
                    return refuse(ErrorCode::NotPermitted);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// The size of the regular file at `path` under `fd` (0 if none).
    async fn size_at(&mut self, fd: &Resource<Descriptor>, path: &str) -> u64 {
        let dir = Resource::<Descriptor>::new_borrow(fd.rep());
        match HostDescriptor::stat_at(&mut self.fs, dir, types::PathFlags::empty(), path.to_string()).await {
            Ok(stat) if stat.type_ == types::DescriptorType::RegularFile => stat.size,
            _ => 0,
        }
    }

    /// The file behind `fd` and its size now.
    fn file(&self, fd: &Resource<Descriptor>) -> FsResult<(Arc<std::fs::File>, u64)> {
        match self.fs.table.get(fd)? {
            Descriptor::File(f) => {
                let size = f.file.metadata().map_err(ErrorCode::from)?.len();
                Ok((f.file.clone(), size))
            }
            Descriptor::Dir(_) => refuse(ErrorCode::BadDescriptor),
        }
    }

    /// Takes `growth` bytes from `index`'s budget, or refuses (counted).
    fn charge(&self, index: usize, growth: u64) -> FsResult<()> {
        if growth == 0 {
            return Ok(());
        }
        let granted = self.grants.grants.get(index).ok_or(ErrorCode::BadDescriptor)?;
        if granted.charge(growth) {
            Ok(())
        } else {
            self.grants.grants.count_refusal(index);
            refuse(ErrorCode::InsufficientSpace)
        }
    }

    fn release(&self, index: usize, bytes: u64) {
        if let Some(granted) = self.grants.grants.get(index) {
            granted.release(bytes);
        }
    }

    /// Wraps a new output stream on `fd` so its writes draw on the budget.
    fn budgeted(
        &mut self,
        index: usize,
        fd: &Resource<Descriptor>,
        stream: Resource<DynOutputStream>,
        position: Option<u64>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let (file, _) = self.file(fd)?;
        let inner = self.fs.table.delete(stream)?;
        let direct = DIRECT_WRITES && file.metadata().is_ok_and(|m| m.file_type().is_file());
        let wrapped: DynOutputStream = Box::new(BudgetedStream {
            inner,
            direct,
            file,
            position,
            written_end: 0,
            grants: self.grants.grants.clone(),
            index,
        });
        Ok(self.fs.table.push(wrapped)?)
    }
}

impl preopens::Host for GrantedFs<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let directories = preopens::Host::get_directories(&mut self.fs)?;
        for (index, (fd, _)) in directories.iter().enumerate() {
            self.grants.owners.insert(fd.rep(), index);
        }
        Ok(directories)
    }
}

impl types::Host for GrantedFs<'_> {
    fn convert_error_code(&mut self, err: wasmtime_wasi::p2::FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        if let Some(Refused(code)) = self.fs.table.get(&err)?.downcast_ref::<Refused>() {
            return Ok(Some(*code));
        }
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for GrantedFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.fs, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.fs, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.fs, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.fs, fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: types::Filesize) -> FsResult<()> {
        let index = self.require(&fd, GrantAccess::ReadWrite)?;
        let (_, before) = self.file(&fd)?;
        self.charge(index, size.saturating_sub(before))?;
        let result = HostDescriptor::set_size(&mut self.fs, fd, size).await;
        match &result {
            Ok(()) => self.release(index, before.saturating_sub(size)),
            Err(_) => self.release(index, size.saturating_sub(before)),
        }
        result
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.require(&fd, GrantAccess::ReadWrite)?;
        HostDescriptor::set_times(&mut self.fs, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.fs, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        let index = self.require(&fd, GrantAccess::Append)?;
        let (_, size) = self.file(&fd)?;
        if self.owner(&fd)?.1.access() == GrantAccess::Append && offset < size {
            return refuse(ErrorCode::NotPermitted);
        }
        let end = offset.saturating_add(buf.len() as u64);
        let growth = end.saturating_sub(size);
        self.charge(index, growth)?;
        let result = HostDescriptor::write(&mut self.fs, fd, buf, offset).await;
        let grew = match &result {
            Ok(written) => offset.saturating_add(*written).saturating_sub(size),
            Err(_) => 0,
        };
        self.release(index, growth - grew.min(growth));
        result
    }

    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DirectoryEntryStream>> {
        HostDescriptor::read_directory(&mut self.fs, fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.fs, fd).await
    }

    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.require(&fd, GrantAccess::Append)?;
        self.no_links(&fd, &path, false).await?;
        HostDescriptor::create_directory_at(&mut self.fs, fd, path).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.fs, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.no_links(&fd, &path, follow).await?;
        HostDescriptor::stat_at(&mut self.fs, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.require(&fd, GrantAccess::ReadWrite)?;
        self.no_links(&fd, &path, true).await?;
        HostDescriptor::set_times_at(&mut self.fs, fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        _fd: Resource<Descriptor>,
        _old_path_flags: types::PathFlags,
        _old_path: String,
        _new_descriptor: Resource<Descriptor>,
        _new_path: String,
    ) -> FsResult<()> {
        refuse(ErrorCode::NotPermitted)
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let (index, granted) = self.owner(&fd)?;
        let access = granted.access();
        let writes = oflags.intersects(types::OpenFlags::CREATE | types::OpenFlags::TRUNCATE)
            || flags.contains(types::DescriptorFlags::WRITE);
        let truncates = oflags.contains(types::OpenFlags::TRUNCATE);
        if (writes && access == GrantAccess::Read) || (truncates && access != GrantAccess::ReadWrite) {
            return refuse(ErrorCode::NotPermitted);
        }
        self.no_links(&fd, &path, true).await?;
        let before = if truncates { self.size_at(&fd, &path).await } else { 0 };
        let opened = HostDescriptor::open_at(&mut self.fs, fd, path_flags, path, oflags, flags).await?;
        self.release(index, before);
        self.grants.owners.insert(opened.rep(), index);
        Ok(opened)
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        self.grants.owners.remove(&fd.rep());
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.no_links(&fd, &path, false).await?;
        HostDescriptor::readlink_at(&mut self.fs, fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.require(&fd, GrantAccess::ReadWrite)?;
        self.no_links(&fd, &path, false).await?;
        HostDescriptor::remove_directory_at(&mut self.fs, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let index = self.require(&fd, GrantAccess::ReadWrite)?;
        if self.require(&new_fd, GrantAccess::ReadWrite)? != index {
            return refuse(ErrorCode::CrossDevice);
        }
        self.no_links(&fd, &old_path, false).await?;
        self.no_links(&new_fd, &new_path, true).await?;
        let replaced = self.size_at(&new_fd, &new_path).await;
        HostDescriptor::rename_at(&mut self.fs, fd, old_path, new_fd, new_path).await?;
        self.release(index, replaced);
        Ok(())
    }

    async fn symlink_at(&mut self, _fd: Resource<Descriptor>, _src_path: String, _dest_path: String) -> FsResult<()> {
        refuse(ErrorCode::NotPermitted)
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let index = self.require(&fd, GrantAccess::ReadWrite)?;
        self.no_links(&fd, &path, false).await?;
        let size = self.size_at(&fd, &path).await;
        HostDescriptor::unlink_file_at(&mut self.fs, fd, path).await?;
        self.release(index, size);
        Ok(())
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<wasmtime_wasi::p2::DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.fs, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let index = self.require(&fd, GrantAccess::Append)?;
        let (_, size) = self.file(&fd)?;
        if self.owner(&fd)?.1.access() == GrantAccess::Append && offset < size {
            return refuse(ErrorCode::NotPermitted);
        }
        let borrowed = Resource::<Descriptor>::new_borrow(fd.rep());
        let stream = HostDescriptor::write_via_stream(&mut self.fs, fd, offset)?;
        self.budgeted(index, &borrowed, stream, Some(offset))
    }

    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let index = self.require(&fd, GrantAccess::Append)?;
        let borrowed = Resource::<Descriptor>::new_borrow(fd.rep());
        let stream = HostDescriptor::append_via_stream(&mut self.fs, fd)?;
        self.budgeted(index, &borrowed, stream, None)
    }

    async fn is_same_object(&mut self, a: Resource<Descriptor>, b: Resource<Descriptor>) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.fs, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.fs, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.no_links(&fd, &path, follow).await?;
        HostDescriptor::metadata_hash_at(&mut self.fs, fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for GrantedFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.fs, stream).await
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}

/// Whether writes to regular files are served on the calling thread
/// (where appending in one call is atomic: Linux's `pwritev2` with
/// `RWF_APPEND`); elsewhere wasmtime-wasi's stream does them all.
const DIRECT_WRITES: bool = cfg!(target_os = "linux");

/// The most bytes a direct stream takes in one write (its `check-write`):
/// wasmtime-wasi's file streams take as much, so a guest sees the same
/// stream either way, and a write that fits lands whole (one append).
const DIRECT_WRITE_CAPACITY: usize = 64 * 1024;

/// A file's output stream whose writes draw on its grant's budget first.
/// `direct`: a regular file, written here, at once and on this thread;
/// otherwise wasmtime-wasi's stream (`inner`) does the writing.
struct BudgetedStream {
    inner: DynOutputStream,
    direct: bool,
    /// The file, to see its size before each write and to write to.
    file: Arc<std::fs::File>,
    /// Where the next write lands; `None` for an appending stream.
    position: Option<u64>,
    /// The end of the last write handed on (it may not have landed yet).
    written_end: u64,
    grants: Grants,
    index: usize,
}

impl BudgetedStream {
    /// Charges a write of `len` bytes, or says why it is refused; the
    /// bytes charged (to give back if the write fails at once). An append
    /// grows the file by `len` whatever its size, so only a positioned
    /// write looks at the size.
    fn charge(&mut self, len: usize) -> StreamResult<u64> {
        let failed = |code: ErrorCode| StreamError::LastOperationFailed(wasmtime::Error::new(Refused(code)));
        let granted = self
            .grants
            .get(self.index)
            .ok_or_else(|| failed(ErrorCode::BadDescriptor))?;
        let len = len as u64;
        let growth = match self.position {
            Some(position) => {
                let size = self
                    .file
                    .metadata()
                    .map_err(|e| StreamError::LastOperationFailed(e.into()))?
                    .len()
                    .max(self.written_end);
                if granted.access() == GrantAccess::Append && position < size {
                    return Err(failed(ErrorCode::NotPermitted));
                }
                position.saturating_add(len).saturating_sub(size)
            }
            None => len,
        };
        if growth > 0 && !granted.charge(growth) {
            self.grants.count_refusal(self.index);
            return Err(failed(ErrorCode::InsufficientSpace));
        }
        if let Some(position) = &mut self.position {
            *position = position.saturating_add(len);
            self.written_end = self.written_end.max(*position);
        }
        Ok(growth)
    }

    /// Gives back `charged` bytes when the write they were for failed.
    fn settle<T>(&self, charged: u64, result: StreamResult<T>) -> StreamResult<T> {
        if result.is_err()
            && let Some(granted) = self.grants.get(self.index)
        {
            granted.release(charged);
        }
        result
    }

    /// A direct write of all of `bytes`, already charged, landing at
    /// `at` (the position before [`Self::charge`] moved it) or appended.
    /// A failed write closes nothing: the plugin sees the error and may
    /// write again.
    fn write_direct(&self, mut bytes: &[u8], mut at: Option<u64>) -> StreamResult<()> {
        use std::os::unix::fs::FileExt;
        while !bytes.is_empty() {
            let written = match at {
                Some(position) => self.file.write_at(bytes, position),
                None => append(&self.file, bytes),
            }
            .map_err(|e| StreamError::LastOperationFailed(e.into()))?;
            if written == 0 {
                let full = std::io::Error::from(std::io::ErrorKind::WriteZero);
                return Err(StreamError::LastOperationFailed(full.into()));
            }
            bytes = &bytes[written..];
            at = at.map(|p| p + written as u64);
        }
        Ok(())
    }

    /// Charges and writes `bytes` itself (direct mode).
    fn write_here(&mut self, bytes: &[u8]) -> StreamResult<()> {
        let at = self.position;
        let charged = self.charge(bytes.len())?;
        let result = self.write_direct(bytes, at);
        self.settle(charged, result)
    }
}

/// Appends `bytes` to `file` in one call, atomically with other appends
/// (Linux's `pwritev2` with `RWF_APPEND`: the file's own offset and flags
/// stay as they are); the bytes written.
fn append(file: &std::fs::File, bytes: &[u8]) -> std::io::Result<usize> {
    let slices = [std::io::IoSlice::new(bytes)];
    Ok(rustix::io::pwritev2(
        file,
        &slices,
        0,
        rustix::io::ReadWriteFlags::APPEND,
    )?)
}

#[wasmtime_wasi::async_trait]
impl Pollable for BudgetedStream {
    async fn ready(&mut self) {
        if !self.direct {
            self.inner.ready().await
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for BudgetedStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        if self.direct {
            return self.write_here(&bytes);
        }
        let charged = self.charge(bytes.len())?;
        let result = self.inner.write(bytes);
        self.settle(charged, result)
    }

    fn flush(&mut self) -> StreamResult<()> {
        match self.direct {
            true => Ok(()),
            false => self.inner.flush(),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.direct {
            true => Ok(DIRECT_WRITE_CAPACITY),
            false => self.inner.check_write(),
        }
    }

    async fn blocking_write_and_flush(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        if self.direct {
            return self.write_here(&bytes);
        }
        let charged = self.charge(bytes.len())?;
        let result = self.inner.blocking_write_and_flush(bytes).await;
        self.settle(charged, result)
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        if self.direct {
            let at = self.position;
            let charged = self.charge(nelem)?;
            let zeros = vec![0; nelem.min(DIRECT_WRITE_CAPACITY)];
            let (mut done, mut result) = (0, Ok(()));
            while done < nelem && result.is_ok() {
                let n = (nelem - done).min(zeros.len());
                result = self.write_direct(&zeros[..n], at.map(|p| p + done as u64));
                done += n;
            }
            return self.settle(charged, result);
        }
        let charged = self.charge(nelem)?;
        let result = self.inner.write_zeroes(nelem);
        self.settle(charged, result)
    }

    async fn cancel(&mut self) {
        if !self.direct {
            self.inner.cancel().await
        }
    }
}
