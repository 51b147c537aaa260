/**
 * An exclusive lock on an embedded store's data folder.
 *
 * PGlite does not lock its folder: a second process can open it and write beside the first, unseen by
 * it, which corrupts the store. So the folder holds a lock file naming its holder (pid, host, and the
 * process's start time where the OS tells it, so that a recycled pid is not mistaken for the holder).
 * A lock whose holder is dead is taken over.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreLockedError } from '../core/errors.js';

interface LockInfo {
  pid: number;
  hostname: string;
  /** Process start time in clock ticks since boot (Linux), to tell a recycled pid apart. */
  processStart: string | null;
  lockedAt: string;
}

export interface DataFolderLock {
  readonly file: string;
  release(): void;
}

const LOCK_FILE = 'fabula.lock';

export function lockDataFolder(dataDir: string): DataFolderLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const mine: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    processStart: processStartOf(process.pid),
    lockedAt: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, mine)) return held(file);
    const holder = readLock(file);
    if (holder === 'missing') continue; // released between our two calls: try again
    if (holder === 'unreadable') {
      // Being written right now by another opener (the content appears atomically), or garbage.
      const age = ageMs(file);
      if (age !== null && age < 2000) throw new StoreLockedError(dataDir, null, 'another process is opening it');
      takeOver(file, null);
      continue;
    }
    if (isAlive(holder)) throw new StoreLockedError(dataDir, holder.pid);
    takeOver(file, holder);
  }
  throw new StoreLockedError(dataDir, null, 'could not take over a stale lock');
}

function held(file: string): DataFolderLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    const info = readLock(file);
    if (typeof info === 'object' && info.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, release };
}

/** Creates the lock file with its content in one step: written aside, then hard-linked into place. */
function tryCreate(file: string, info: LockInfo): boolean {
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(info));
  try {
    fs.linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Removes a stale lock, making sure it is the stale one: it is renamed aside first (atomic), and if what
 * was renamed turns out to be a fresh lock another opener just made, it is put back.
 */
function takeOver(file: string, stale: LockInfo | null) {
  const aside = `${file}.${process.pid}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = readLock(aside);
  const sameAsStale =
    stale === null
      ? typeof moved !== 'object'
      : typeof moved === 'object' && moved.pid === stale.pid && moved.lockedAt === stale.lockedAt;
  if (!sameAsStale) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Someone else holds it now; our next attempt will see them.
    }
  }
  fs.rmSync(aside, { force: true });
}

function readLock(file: string): LockInfo | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info.pid === 'number' ? info : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function isAlive(holder: LockInfo): boolean {
  // A holder on another machine (a shared folder) cannot be checked: assume it is alive.
  if (holder.hostname !== os.hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const start = processStartOf(holder.pid);
  return holder.processStart === null || start === null || start === holder.processStart;
}

function processStartOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name (field 2) may contain spaces, so count after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function ageMs(file: string): number | null {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}
