package org.semiringkernels.cli.eval;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The {@code --set KEY=VALUE} options of one eval run, with the op's defaults filled in. Typed
 * getters fail with IllegalArgumentException (exit code 2) naming the key, the expected values
 * and the value given.
 */
public final class Settings {

    private final String op;
    private final Map<String, String> values = new TreeMap<>();
    private final Set<String> given = new HashSet<>();

    /** The op's option defaults overridden by {@code set}; an unknown key is an error naming it. */
    public Settings(String op, List<EvalOp.Option> options, Map<String, String> set) {
        this.op = op;
        for (EvalOp.Option o : options) {
            values.put(o.key(), o.defaultValue());
        }
        for (Map.Entry<String, String> e : set.entrySet()) {
            if (!values.containsKey(e.getKey())) {
                throw new IllegalArgumentException("op " + op + " has no option '" + e.getKey() + "' (options: "
                        + String.join(", ", values.keySet()) + ")");
            }
            values.put(e.getKey(), e.getValue());
            given.add(e.getKey());
        }
    }

    /** Whether the user set this key (rather than its default applying). */
    public boolean isSet(String key) {
        return given.contains(key);
    }

    public String string(String key) {
        String v = values.get(key);
        if (v == null) {
            throw new IllegalStateException("op " + op + " reads undeclared option " + key);
        }
        return v;
    }

    /** One of the allowed words (case-insensitive), returned in lower case. */
    public String choice(String key, String... allowed) {
        String v = string(key).toLowerCase(Locale.ROOT);
        if (!Arrays.asList(allowed).contains(v)) {
            throw new IllegalArgumentException("option " + key + " of " + op + " must be one of "
                    + String.join("|", allowed) + ", got '" + string(key) + "'");
        }
        return v;
    }

    public <E extends Enum<E>> E enumValue(String key, Class<E> type) {
        String v = string(key);
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(v)) {
                return e;
            }
        }
        throw new IllegalArgumentException("option " + key + " of " + op + " must be one of "
                + Arrays.stream(type.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT)).toList()
                + ", got '" + v + "'");
    }

    public int integer(String key) {
        String v = string(key);
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option " + key + " of " + op + " needs an integer, got '" + v + "'");
        }
    }

    public double number(String key) {
        String v = string(key);
        try {
            return Double.parseDouble(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option " + key + " of " + op + " needs a number, got '" + v + "'");
        }
    }

    public boolean bool(String key) {
        return switch (string(key).strip().toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException("option " + key + " of " + op
                    + " needs true or false, got '" + string(key) + "'");
        };
    }
}
