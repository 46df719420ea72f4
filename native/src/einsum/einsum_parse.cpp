// The einsum equation parser: "term,term,...->term" with letters a-z A-Z, spaces anywhere, at most
// one "..." per term, bound to operand shapes. Every error names the 0-based character position
// in the equation and the problem.
#include <algorithm>
#include <cstddef>

#include "core/error.h"
#include "einsum/einsum.h"

namespace sk::einsum {
namespace {

// One term as written: its letters (with positions) and where "..." stands.
struct Term {
    std::vector<char> letters;
    std::vector<std::size_t> positions;  // of each letter
    int ellipsis_at = -1;                // index into letters before which "..." stands
    std::size_t ellipsis_position = 0;
    std::size_t begin = 0;  // position of the term's first character
};

[[noreturn]] void parse_error(const std::string &text, std::size_t position, const std::string &what,
                              sk_status status = SK_ERROR_INVALID_ARGUMENT) {
    fail(status, "equation \"%s\": position %zu: %s", text.c_str(), position, what.c_str());
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads the term starting at `pos` up to (not including) a ',' or the end `stop`.
Term read_term(const std::string &text, std::size_t &pos, std::size_t stop, bool output) {
    Term t;
    t.begin = pos;
    while (pos < stop && text[pos] != ',') {
        const char c = text[pos];
        if (c == ' ') {
            ++pos;
        } else if (is_letter(c)) {
            t.letters.push_back(c);
            t.positions.push_back(pos);
            ++pos;
        } else if (c == '.') {
            if (pos + 2 >= stop || text[pos + 1] != '.' || text[pos + 2] != '.')
                parse_error(text, pos, "'.' must be part of '...'");
            if (t.ellipsis_at >= 0)
                parse_error(text, pos, format("a second '...' in one %s term (the first is at "
                                              "position %zu)", output ? "output" : "operand",
                                              t.ellipsis_position));
            t.ellipsis_at = static_cast<int>(t.letters.size());
            t.ellipsis_position = pos;
            pos += 3;
        } else if (c == '-' || c == '>') {
            parse_error(text, pos, "'->' may appear only once, between the operands and the output");
        } else {
            parse_error(text, pos, format("unknown character '%c' (labels are the letters a-z and "
                                          "A-Z)", c));
        }
    }
    return t;
}

}  // namespace

std::vector<int> unique_labels(const std::vector<int> &dims) {
    std::vector<int> u;
    for (int l : dims)
        if (std::find(u.begin(), u.end(), l) == u.end()) u.push_back(l);
    return u;
}

Equation parse(const std::string &text, const std::vector<std::vector<index_t>> &shapes) {
    const std::size_t arrow = text.find("->");
    if (arrow == std::string::npos)
        parse_error(text, text.size(), "missing '->': the output must be given explicitly");
    if (text.find("->", arrow + 2) != std::string::npos)
        parse_error(text, text.find("->", arrow + 2), "'->' may appear only once");

    // The operand terms.
    std::vector<Term> terms;
    std::size_t pos = 0;
    while (true) {
        terms.push_back(read_term(text, pos, arrow, false));
        if (pos >= arrow) break;
        ++pos;  // the ','
    }
    const std::size_t num_operands = shapes.size();
    if (terms.size() != num_operands) {
        // Point at the first surplus term, or at the arrow when terms are missing.
        const std::size_t where = terms.size() > num_operands ? terms[num_operands].begin : arrow;
        parse_error(text, where, format("the equation has %zu operand terms but num_operands is %zu",
                                        terms.size(), num_operands));
    }
    std::size_t out_pos = arrow + 2;
    const std::size_t comma = text.find(',', out_pos);
    if (comma != std::string::npos) parse_error(text, comma, "',' in the output term");
    Term out_term = read_term(text, out_pos, text.size(), true);

    Equation eq;
    eq.text = text;
    // Letters get ids in order of first appearance in the operands.
    int letter_id[128];
    std::fill(std::begin(letter_id), std::end(letter_id), -1);
    for (const Term &t : terms)
        for (char c : t.letters)
            if (letter_id[static_cast<int>(c)] < 0) {
                letter_id[static_cast<int>(c)] = eq.num_labels++;
                eq.letter.push_back(c);
            }
    const int num_letters = eq.num_labels;

    // The "..." dimensions: each operand's count is its rank minus its letters.
    int ellipsis_rank = 0;
    std::vector<int> operand_ellipsis(num_operands, 0);
    for (std::size_t i = 0; i < num_operands; ++i) {
        const Term &t = terms[i];
        const int rank = static_cast<int>(shapes[i].size());
        const int letters = static_cast<int>(t.letters.size());
        if (t.ellipsis_at < 0 && letters != rank)
            parse_error(text, t.begin, format("operand %zu has %d labels but rank %d", i, letters, rank),
                        SK_ERROR_SHAPE);
        if (t.ellipsis_at >= 0 && letters > rank)
            parse_error(text, t.begin, format("operand %zu has %d labels besides '...' but rank %d", i,
                                              letters, rank), SK_ERROR_SHAPE);
        operand_ellipsis[i] = rank - letters;
        ellipsis_rank = std::max(ellipsis_rank, operand_ellipsis[i]);
    }
    for (int e = 0; e < ellipsis_rank; ++e) eq.letter.push_back(0);
    eq.num_labels = num_letters + ellipsis_rank;
    eq.extent.assign(static_cast<std::size_t>(eq.num_labels), 1);
    std::vector<int> extent_source(static_cast<std::size_t>(eq.num_labels), -1);  // operand index
    std::vector<std::size_t> label_position(static_cast<std::size_t>(eq.num_labels), 0);

    auto label_name = [&](int id) {
        return id < num_letters ? format("label '%c'", eq.letter[static_cast<std::size_t>(id)])
                                : format("'...' dimension %d", id - num_letters);
    };

    for (std::size_t i = 0; i < num_operands; ++i) {
        const Term &t = terms[i];
        std::vector<int> dims;
        std::vector<std::size_t> dim_pos;
        for (std::size_t j = 0; j <= t.letters.size(); ++j) {
            if (static_cast<int>(j) == t.ellipsis_at)
                for (int e = 0; e < operand_ellipsis[i]; ++e) {
                    dims.push_back(num_letters + ellipsis_rank - operand_ellipsis[i] + e);
                    dim_pos.push_back(t.ellipsis_position);
                }
            if (j < t.letters.size()) {
                dims.push_back(letter_id[static_cast<int>(t.letters[j])]);
                dim_pos.push_back(t.positions[j]);
            }
        }
        for (std::size_t d = 0; d < dims.size(); ++d) {
            const index_t e = shapes[i][d];
            const auto l = static_cast<std::size_t>(dims[d]);
            if (e < 0)
                parse_error(text, dim_pos[d], format("operand %zu dimension %zu has negative extent %lld",
                                                     i, d, static_cast<long long>(e)), SK_ERROR_SHAPE);
            if (e == 1) continue;  // broadcasts
            if (extent_source[l] < 0) {
                eq.extent[l] = e;
                extent_source[l] = static_cast<int>(i);
                label_position[l] = dim_pos[d];
            } else if (eq.extent[l] != e) {
                parse_error(text, dim_pos[d],
                            format("%s has extent %lld in operand %zu but %lld in operand %d (position "
                                   "%zu); extents must agree or be 1", label_name(dims[d]).c_str(),
                                   static_cast<long long>(e), i, static_cast<long long>(eq.extent[l]),
                                   extent_source[l], label_position[l]), SK_ERROR_SHAPE);
            }
        }
        eq.operand_dims.push_back(dims);
        eq.operand_shape.push_back(shapes[i]);
    }

    // The output.
    std::vector<bool> in_output(static_cast<std::size_t>(eq.num_labels), false);
    for (std::size_t j = 0; j <= out_term.letters.size(); ++j) {
        if (static_cast<int>(j) == out_term.ellipsis_at)
            for (int e = 0; e < ellipsis_rank; ++e) {
                eq.output.push_back(num_letters + e);
                in_output[static_cast<std::size_t>(num_letters + e)] = true;
            }
        if (j == out_term.letters.size()) break;
        const char c = out_term.letters[j];
        const int id = letter_id[static_cast<int>(c)];
        if (id < 0)
            parse_error(text, out_term.positions[j],
                        format("output label '%c' does not appear in any operand", c));
        if (in_output[static_cast<std::size_t>(id)])
            parse_error(text, out_term.positions[j], format("output label '%c' appears twice", c));
        in_output[static_cast<std::size_t>(id)] = true;
        eq.output.push_back(id);
    }
    if (eq.output.size() > 8)
        parse_error(text, arrow + 2, format("the output has rank %zu; at most 8 is supported",
                                            eq.output.size()), SK_ERROR_SHAPE);
    for (int l = 0; l < eq.num_labels; ++l)
        if (!in_output[static_cast<std::size_t>(l)]) eq.summed.push_back(l);
    return eq;
}

}  // namespace sk::einsum
