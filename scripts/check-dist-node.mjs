// Runs before `npm run dist`: electron-builder's Electron download and native rebuild (@electron/get 5,
// @electron/rebuild 4, electron 45) need Node 22.12 or newer. The studio itself (web mode, CLI, tests) runs on Node 20.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`npm run dist needs Node 22.12 or newer (this is Node ${process.versions.node}): electron 45, @electron/get and @electron/rebuild require it; the studio itself runs on Node 20 (npm start, npm run web, the CLI).`);
  process.exit(1);
}
