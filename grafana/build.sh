#!/usr/bin/env bash
# Builds the Grafana plugin folder and zip:
#   dist/vigil-metering-datasource/      plugin.json, module.js, img/, README.md,
#                                        gpx_vigil-datasource_linux_{amd64,arm64}
#   dist/vigil-metering-datasource-VERSION.zip
# The folder installs by copying it into Grafana's plugins directory (with
# allow_loading_unsigned_plugins = vigil-metering-datasource).
#
# Environment: GO (go), VERSION (the frontend's package.json version),
# ARCHS ("amd64 arm64"), DIST (dist, relative to the repository root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GO="${GO:-go}"
ARCHS="${ARCHS:-amd64 arm64}"
DIST="${DIST:-dist}"
id=vigil-metering-datasource
exe=gpx_vigil-datasource
version="${VERSION:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$here/frontend/package.json")}"
version="${version#v}"
out="$root/$DIST/$id"

echo "== frontend"
cd "$here/frontend"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund
fi
npx webpack --mode production

echo "== backend"
rm -rf "$out"
mkdir -p "$out"
cp -r dist/. "$out/"
rm -f "$out"/*.map
sed -i "s/%VERSION%/$version/; s/%TODAY%/$(date -u +%Y-%m-%d)/" "$out/plugin.json"
cd "$root"
for arch in $ARCHS; do
	echo "   $exe linux/$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "$GO" build -trimpath -ldflags "-s -w" \
		-o "$out/${exe}_linux_${arch}" ./grafana/cmd/vigil-datasource
done

echo "== zip"
zip="$root/$DIST/$id-$version.zip"
rm -f "$zip"
(cd "$root/$DIST" && zip -qr "$zip" "$id")
echo "built $out and $zip"
