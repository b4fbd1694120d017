// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Identifier checks of DOMAIN.md §1.4. Input is taken exactly as supplied: lower case fails
/// [A-MD-CASE]; callers that choose to normalise use `upper` first.
library Identifiers {
    function isDigit(bytes1 c) internal pure returns (bool) {
        return c >= "0" && c <= "9";
    }

    function isUpper(bytes1 c) internal pure returns (bool) {
        return c >= "A" && c <= "Z";
    }

    function isUpperAlnum(bytes1 c) internal pure returns (bool) {
        return isDigit(c) || isUpper(c);
    }

    /// Letters A..Z -> 10..35, digits -> 0..9 (ISIN and LEI conversions).
    function charValue(bytes1 c) internal pure returns (uint256) {
        return isDigit(c) ? uint8(c) - 48 : uint8(c) - 55;
    }

    function upper(bytes memory s) internal pure returns (bytes memory out) {
        out = new bytes(s.length);
        for (uint256 i = 0; i < s.length; i++) {
            bytes1 c = s[i];
            out[i] = (c >= "a" && c <= "z") ? bytes1(uint8(c) - 32) : c;
        }
    }

    /// A fixed-size identifier field (right-padded with zero bytes) as its text.
    function trimmed(bytes32 v) internal pure returns (bytes memory out) {
        uint256 len = 0;
        while (len < 32 && v[len] != 0) len++;
        out = new bytes(len);
        for (uint256 i = 0; i < len; i++) out[i] = v[i];
    }

    // ---- ISIN (ISO 6166) --------------------------------------------------------------------

    /// Check digit over the first 11 characters: letters expanded to two digits, every other
    /// digit doubled starting from the rightmost, ten's complement of the digit sum.
    function isinCheckDigit(bytes memory s) internal pure returns (uint256) {
        uint8[22] memory digits;
        uint256 n = 0;
        for (uint256 i = 0; i < 11; i++) {
            uint256 v = charValue(s[i]);
            if (v >= 10) digits[n++] = uint8(v / 10);
            digits[n++] = uint8(v % 10);
        }
        uint256 sum = 0;
        bool double = true;
        for (uint256 j = n; j > 0; j--) {
            uint256 v = digits[j - 1];
            if (double) v *= 2;
            sum += v / 10 + (v % 10);
            double = !double;
        }
        return (10 - (sum % 10)) % 10;
    }

    function isValidIsin(bytes memory s) internal pure returns (bool) {
        if (s.length != 12) return false;
        if (!isUpper(s[0]) || !isUpper(s[1])) return false;
        for (uint256 i = 2; i < 11; i++) if (!isUpperAlnum(s[i])) return false;
        if (!isDigit(s[11])) return false;
        return isinCheckDigit(s) == uint8(s[11]) - 48;
    }

    // ---- LEI (ISO 17442, MOD 97-10) -----------------------------------------------------------

    function mod97(bytes memory s, uint256 len) internal pure returns (uint256 r) {
        for (uint256 i = 0; i < len; i++) {
            uint256 v = charValue(s[i]);
            r = v >= 10 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
        }
    }

    /// The two check digits for an 18-character prefix: 98 - (prefix || "00") mod 97.
    function leiCheckDigits(bytes memory prefix18) internal pure returns (uint256) {
        uint256 r = mod97(prefix18, 18);
        r = (r * 100) % 97;
        return 98 - r;
    }

    function isValidLei(bytes memory s) internal pure returns (bool) {
        if (s.length != 20) return false;
        for (uint256 i = 0; i < 18; i++) if (!isUpperAlnum(s[i])) return false;
        if (!isDigit(s[18]) || !isDigit(s[19])) return false;
        return mod97(s, 20) == 1;
    }

    // ---- Corporate number (法人番号) ------------------------------------------------------------

    /// Leading check digit = 9 - (sum Pn*Qn mod 9), Pn = n-th digit of the 12-digit base from the
    /// right, Qn = 1 for odd n and 2 for even n.
    function corporateNumberCheckDigit(bytes memory base12) internal pure returns (uint256) {
        uint256 sum = 0;
        for (uint256 n = 1; n <= 12; n++) {
            uint256 p = uint8(base12[12 - n]) - 48;
            sum += p * (n % 2 == 1 ? 1 : 2);
        }
        return 9 - (sum % 9);
    }

    function isValidCorporateNumber(bytes memory s) internal pure returns (bool) {
        if (s.length != 13) return false;
        for (uint256 i = 0; i < 13; i++) if (!isDigit(s[i])) return false;
        bytes memory base = new bytes(12);
        for (uint256 i = 0; i < 12; i++) base[i] = s[i + 1];
        return corporateNumberCheckDigit(base) == uint8(s[0]) - 48;
    }

    // ---- BIC, JASDEC participant code, GIIN, fund code, local code ---------------------------

    function isValidBic(bytes memory s) internal pure returns (bool) {
        if (s.length != 8 && s.length != 11) return false;
        for (uint256 i = 0; i < 6; i++) if (!isUpper(s[i])) return false;
        for (uint256 i = 6; i < s.length; i++) if (!isUpperAlnum(s[i])) return false;
        return true;
    }

    function isValidJasdecCode(bytes memory s) internal pure returns (bool) {
        if (s.length != 5) return false;
        for (uint256 i = 0; i < 5; i++) if (!isDigit(s[i])) return false;
        return true;
    }

    /// Shape only, `XXXXXX.XXXXX.XX.XXX`, never the letter O [A-MD-GIIN].
    function isValidGiin(bytes memory s) internal pure returns (bool) {
        if (s.length != 19) return false;
        for (uint256 i = 0; i < 19; i++) {
            if (i == 6 || i == 12 || i == 15) {
                if (s[i] != ".") return false;
            } else if (!isUpperAlnum(s[i]) || s[i] == "O") {
                return false;
            }
        }
        return true;
    }

    /// Unified fund code: 1-16 characters, upper-case letters, digits and '-'.
    function isValidFundCode(bytes memory s) internal pure returns (bool) {
        if (s.length == 0 || s.length > 16) return false;
        for (uint256 i = 0; i < s.length; i++) if (!isUpperAlnum(s[i]) && s[i] != "-") return false;
        return true;
    }

    function isValidLocalCode(bytes memory s) internal pure returns (bool) {
        if (s.length != 4) return false;
        for (uint256 i = 0; i < 4; i++) if (!isUpperAlnum(s[i])) return false;
        return true;
    }
}
