#!/usr/bin/env bash
# Sourced by the build scripts: exports JAVA_HOME pointing at a JDK 22 or newer.
# Order: $JAVA_HOME if it is 22+, then every JDK under /usr/lib/jvm and /opt (newest first), then
# the `javac` on PATH. Fails with a clear message when none is found.

sk_java_major() {  # prints the feature version of the JDK at $1, or nothing
    local home=$1 line
    [ -x "$home/bin/javac" ] || return 0
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
    if command -v javac >/dev/null 2>&1; then
        candidate=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
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
