#!/bin/sh
# Installs the Debian packages the tests need, each missing tool on its own: apt refuses a
# whole set when one member conflicts (a vendor Node.js that bundles npm conflicts with
# Debian's npm), so one install per tool keeps the others going.
#   ffprobe  -> ffmpeg    (ffprobe checks of recordings)
#   chromium -> chromium  (browser interop)
#   node     -> nodejs    (bundling Pexip's web SDK for the interop test)
#   npm      -> npm       only when neither npm nor a nodejs that ships it is present
#   podman     -> podman     (the container image test and `make image`; podman-compose, a
#                            Python tool, comes with the dev dependencies)
#   runc       -> runc       (podman's default crun cannot run build steps on these hosts)
#   mmdebstrap -> mmdebstrap (bootstraps the local base image when no registry is reachable)
#   redis-server -> redis-server (the service tests start their own Redis on a free port)
# SUDO may name a command to prefix apt-get with (the Makefile sets it when not root).
set -eu

updated=no
install() {
  if [ "$updated" = no ]; then
    $SUDO apt-get update -qq
    updated=yes
  fi
  echo "sysdeps: installing $1"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1"
}

nodejs_ships_npm() {
  # NodeSource's nodejs "Provides: npm" (and conflicts with Debian's npm).
  provides=$(dpkg-query -W -f='${Provides}' nodejs 2>/dev/null || true)
  case ",$provides," in
    *[,\ ]npm[,\ ]*) return 0 ;;
  esac
  return 1
}

SUDO=${SUDO:-}
command -v ffprobe >/dev/null 2>&1 || install ffmpeg
command -v chromium >/dev/null 2>&1 || install chromium
command -v node >/dev/null 2>&1 || install nodejs
if ! command -v npm >/dev/null 2>&1 && ! nodejs_ships_npm; then
  install npm
fi
command -v podman >/dev/null 2>&1 || install podman
command -v runc >/dev/null 2>&1 || install runc
command -v mmdebstrap >/dev/null 2>&1 || install mmdebstrap
command -v redis-server >/dev/null 2>&1 || install redis-server
