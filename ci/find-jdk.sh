#!/usr/bin/env bash
# Sourced by the build scripts: exports JAVA_HOME pointing at a JDK 22 or newer.
# Order: $JAVA_HOME if it is 22+, then every JDK under /usr/lib/jvm and /opt (newest first), then
# the `javac` on PATH. Fails with a clear message when none is found.
# With SK_ACCEPT_JRE=1 (set by bin/semiring-kernels when the jar is already built) a Java 22+
# runtime without javac also qualifies, e.g. a jlink image: running the jar needs only `java`.

sk_java_major() {  # prints the feature version of the JDK at $1, or nothing
    local home=$1 line
    [ -x "$home/bin/java" ] || return 0
    [ "${SK_ACCEPT_JRE:-0}" = 1 ] || [ -x "$home/bin/javac" ] || return 0
    line=$("$home/bin/java" -XshowSettings:properties -version 2>&1 | grep 'java.specification.version' | head -n1)
    line=${line##*= }
    echo "${line%%.*}"
}

sk_find_jdk() {
    local candidate major
    if [ -n "${JAVA_HOME:-}" ]; then
        major=$(sk_java_major "$JAVA_HOME")
        if [ -n "$major" ] && [ "$major" -ge 22 ]; then echo "$JAVA_HOME"; return 0; fi
    fi
    for candidate in $(ls -d /usr/lib/jvm/* /opt/*jdk* /opt/java/* 2>/dev/null | sort -rV); do
        major=$(sk_java_major "$candidate")
        if [ -n "$major" ] && [ "$major" -ge 22 ]; then echo "$candidate"; return 0; fi
    done
    local tool=javac
    [ "${SK_ACCEPT_JRE:-0}" = 1 ] && tool=java
    if command -v "$tool" >/dev/null 2>&1; then
        candidate=$(dirname "$(dirname "$(readlink -f "$(command -v "$tool")")")")
        major=$(sk_java_major "$candidate")
        if [ -n "$major" ] && [ "$major" -ge 22 ]; then echo "$candidate"; return 0; fi
    fi
    return 1
}

if SK_JDK=$(sk_find_jdk); then
    export JAVA_HOME=$SK_JDK
    export PATH="$JAVA_HOME/bin:$PATH"
else
    echo "error: Semiring Kernels needs a JDK 22 or newer (java.lang.foreign); none was found in" >&2
    echo "       \$JAVA_HOME, /usr/lib/jvm, /opt or on PATH. Install one (e.g. Temurin 25) and set" >&2
    echo "       JAVA_HOME to it." >&2
    return 1 2>/dev/null || exit 1
fi
