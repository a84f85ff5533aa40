#!/bin/sh
# Build the example with the JDK alone (17+): build/example.jar, plus build/bootstrap for a custom runtime.
#   examples/java/build.sh [OUT_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
rm -rf "$out/classes"
mkdir -p "$out/classes"
javac --release 17 -d "$out/classes" "$here"/src/example/*.java
jar --create --file "$out/example.jar" -C "$out/classes" .
cat > "$out/bootstrap" <<'SH'
#!/bin/sh
# Custom-runtime entry point: a JRE (java on PATH, or JAVA_HOME) runs the runtime loop from example.jar.
# Tiered compilation level 1 only and the serial GC keep the start-up short.
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
exec "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$(dirname "$0")/example.jar" example.Bootstrap
SH
chmod 755 "$out/bootstrap"
