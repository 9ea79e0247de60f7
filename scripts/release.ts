/**
 * `npm run release [-- --out-dir DIR]`: a tarball for machines with no registry and no compiler.
 *
 *   npm install -g ./tuf-mirror-0.1.0-node20-abi115-linux-x64.tgz --offline
 *
 * Every production dependency is bundled (bundleDependencies), and better-sqlite3's native addon
 * is the one built in this checkout, for the Node that runs this script: its ABI, platform and
 * architecture are in the file name, and the tarball installs only on a matching Node. To target
 * another, run the release there (same Node major, same OS and CPU). The bundled better-sqlite3
 * loses its install script, which would otherwise try to download a prebuilt addon or compile
 * one; its compiled addon is checked to load before anything is packed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../lib/paths';

type PackageJson = {
  name: string;
  version: string;
  description?: string;
  license?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  files?: string[];
  gypfile?: boolean;
  [key: string]: unknown;
};

const readJson = (file: string): PackageJson => JSON.parse(fs.readFileSync(file, 'utf8')) as PackageJson;
const writeJson = (file: string, value: unknown): void => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

/** What the tarball runs on: the Node running this script. */
export function releaseTarget(): { node: string; abi: string; platform: string; arch: string } {
  return { node: process.versions.node.split('.')[0], abi: process.versions.modules, platform: process.platform, arch: process.arch };
}

/** The part of the engines range for this Node's major: an addon built for ABI N runs on that major only. */
export function nodeRangeFor(range: string | undefined, major = Number(releaseTarget().node)): string {
  const floor = (range ?? '')
    .split('||')
    .map((c) => /(\d+)\.(\d+)\.(\d+)/.exec(c))
    .find((m) => m && Number(m[1]) === major);
  return `>=${floor ? floor.slice(1).join('.') : `${major}.0.0`} <${major + 1}.0.0`;
}

export function releaseFileName(version: string, t = releaseTarget()): string {
  return `tuf-mirror-${version}-node${t.node}-abi${t.abi}-${t.platform}-${t.arch}.tgz`;
}

/** dist/ without what only the checkout needs (tests, benchmarks, release tooling). */
const DIST_LEFT_OUT = new Set(['test', 'testing', 'bench', 'scripts']);
/** What the package ships besides dist/. */
const SHIPPED = ['config/anchors', 'deploy', 'README.md', 'LICENSE'];
/** Install scripts a bundle must not run; each bundled package that has one is handled below or refused. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

function copyTree(from: string, to: string, skip: (name: string) => boolean = () => false): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (skip(entry.name)) continue;
    const [a, b] = [path.join(from, entry.name), path.join(to, entry.name)];
    if (entry.isDirectory()) copyTree(a, b);
    else if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(a), b);
    else fs.copyFileSync(a, b);
  }
}

/** The production dependency tree as installed in the checkout: package folders, relative to it. */
function productionPackages(root: string): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== root)
    .map((l) => path.relative(root, l));
}

/** better-sqlite3 as shipped: its lib and the compiled addon, no sources, no install script. */
function prebuiltBetterSqlite(dir: string): void {
  const addon = path.join(dir, 'build', 'Release', 'better_sqlite3.node');
  if (!fs.existsSync(addon)) throw new Error(`${addon} is missing: run npm ci (or npm rebuild better-sqlite3) first`);
  const keep = fs.readFileSync(addon);
  for (const name of ['build', 'deps', 'src', 'binding.gyp']) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(addon), { recursive: true });
  fs.writeFileSync(addon, keep);
  const pkg = readJson(path.join(dir, 'package.json'));
  for (const s of INSTALL_SCRIPTS) delete pkg.scripts?.[s];
  // npm adds an implicit `node-gyp rebuild` to a package with a binding.gyp: there is none, and say so.
  pkg.gypfile = false;
  pkg.files = ['lib/**', 'build/Release/better_sqlite3.node'];
  writeJson(path.join(dir, 'package.json'), pkg);
}

export function buildRelease(outDir: string): { file: string; bytes: number; sha256: string } {
  const root = packageRoot();
  const pkg = readJson(path.join(root, 'package.json'));
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: npm run build first');
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-mirror-release-'));
  try {
    copyTree(path.join(root, 'dist'), path.join(stage, 'dist'), (name) => DIST_LEFT_OUT.has(name));
    for (const p of SHIPPED) {
      const from = path.join(root, p);
      if (fs.statSync(from).isDirectory()) copyTree(from, path.join(stage, p));
      else fs.copyFileSync(from, path.join(stage, p));
    }

    for (const rel of productionPackages(root)) {
      const dir = path.join(stage, rel);
      copyTree(path.join(root, rel), dir, (name) => name === 'node_modules');
      if (readJson(path.join(dir, 'package.json')).name === 'better-sqlite3') prebuiltBetterSqlite(dir);
      const dep = readJson(path.join(dir, 'package.json'));
      const scripts = INSTALL_SCRIPTS.filter((s) => dep.scripts?.[s]);
      if (scripts.length) throw new Error(`${dep.name} runs ${scripts.join(', ')} at install: it cannot be bundled for an offline install as is`);
    }

    const dependencies = pkg.dependencies ?? {};
    writeJson(path.join(stage, 'package.json'), {
      name: pkg.name,
      version: pkg.version,
      description: pkg.description,
      license: pkg.license,
      bin: pkg.bin,
      engines: { ...pkg.engines, node: nodeRangeFor(pkg.engines?.node) },
      // The addon is built for exactly this: npm refuses another OS or CPU instead of failing at run time.
      os: [process.platform],
      cpu: [process.arch],
      dependencies,
      bundleDependencies: Object.keys(dependencies),
      files: ['dist/', ...SHIPPED],
      tufMirrorRelease: releaseTarget(),
    });

    // The addon must load in this Node before it is shipped for it.
    execFileSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"], { cwd: stage, stdio: 'inherit' });
    execFileSync(process.execPath, [path.join(stage, 'dist', 'cli', 'main.js'), '--version'], { cwd: stage, stdio: 'ignore' });

    fs.mkdirSync(outDir, { recursive: true });
    // --loglevel warn: npm would otherwise list each of the thousands of files on stderr.
    const packOutput = execFileSync('npm', ['pack', '--offline', '--ignore-scripts', '--loglevel', 'warn', '--pack-destination', outDir], { cwd: stage, encoding: 'utf8' }).trim();
    // npm pack prints the file name it wrote last.
    const packed = packOutput.slice(packOutput.lastIndexOf('\n') + 1);
    const file = path.join(outDir, releaseFileName(pkg.version));
    fs.renameSync(path.join(outDir, packed), file);
    const bytes = fs.readFileSync(file);
    return { file, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const i = process.argv.indexOf('--out-dir');
  const outDir = path.resolve(i > 0 ? process.argv[i + 1] : path.join(packageRoot(), 'release'));
  const r = buildRelease(outDir);
  process.stdout.write(`${r.file}\n  ${r.bytes} bytes, sha256 ${r.sha256}\n  install (no registry, no compiler needed): npm install -g ${r.file} --offline\n`);
}
