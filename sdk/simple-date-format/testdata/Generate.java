// Generates the reference tables for the simple-date-format crate from the real
// java.text.SimpleDateFormat (run with OpenJDK 17, Locale.US).
//
//   javac Generate.java && java Generate format > format_table.tsv
//   java Generate parse > parse_table.tsv
//   java Generate zones > ../src/zone_names.tsv
//
// TSV cells escape backslash, tab and newline as \\, \t and \n.

import java.text.ParseException;
import java.text.ParsePosition;
import java.text.SimpleDateFormat;
import java.text.DateFormatSymbols;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;
import java.util.TimeZone;

public class Generate {
    static final String[] ZONES = {
        "UTC", "America/Los_Angeles", "Europe/Paris", "Asia/Kolkata", "Australia/Adelaide", "GMT-08:00",
    };

    static final String[] INSTANTS = {
        "1970-01-01T00:00:00.000Z", // epoch 0
        "2024-02-29T12:34:56.007Z", // leap day, 7 ms
        "2023-12-31T23:59:59.999Z", // last millisecond of a year (Sunday: US week 1 of 2024)
        "2021-01-01T00:00:00.070Z", // Friday new year, 70 ms
        "2016-12-31T12:00:00.700Z", // Saturday in US week 53, 700 ms
        "2017-01-01T00:30:00.000Z", // Sunday new year (still 2016 west of UTC)
        "2019-12-29T10:00:00.000Z", // Sunday in week 1 of week-year 2020
        "2022-01-01T05:00:00.000Z", // Saturday new year; 2021-12-31 in Los Angeles
        "2023-03-12T09:59:59.999Z", // last instant of PST before spring forward
        "2023-03-12T10:00:00.000Z", // first instant of PDT
        "2023-11-05T08:30:00.000Z", // 01:30 PDT (first of the repeated hour)
        "2023-11-05T09:30:00.000Z", // 01:30 PST (second of the repeated hour)
        "2023-03-26T00:59:59.000Z", // Paris: last second of CET before spring forward
        "2023-03-26T01:00:00.000Z", // Paris: first instant of CEST
        "2023-10-29T00:30:00.000Z", // Paris: 02:30 CEST (repeated hour, first)
        "2023-10-29T01:30:00.000Z", // Paris: 02:30 CET (repeated hour, second)
        "2023-04-01T16:29:59.000Z", // Adelaide: last second of ACDT
        "2023-09-30T16:30:00.000Z", // Adelaide: first instant of ACDT
        "2024-03-01T07:59:59.000Z", // Los Angeles: 23:59:59 on the leap day
        "2023-01-01T07:30:00.000Z", // Los Angeles: 23:30 on new year's eve
        "2022-06-15T12:00:00.000Z", // noon UTC
        "1999-12-31T23:59:59.000Z", // two-digit year 99
        "2099-07-04T18:05:09.000Z", // far future, beyond the tz transition tables
    };

    static final String[] FORMAT_PATTERNS = {
        "yyyy-MM-dd'T'HH:mm:ssZ",
        "yyyy-MM-dd'T'HH:mm:ss'Z'",
        "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "G GG GGG GGGG GGGGG",
        "y yy yyy yyyy yyyyy",
        "Y YY YYY YYYY YYYYY",
        "M MM MMM MMMM MMMMM",
        "L LL LLL LLLL LLLLL",
        "w ww www",
        "W WW WWW",
        "D DD DDD DDDD",
        "d dd ddd",
        "F FF FFF",
        "E EE EEE EEEE EEEEE",
        "u uu uuu",
        "a aa aaaa",
        "H HH HHH",
        "k kk kkk",
        "K KK KKK",
        "h hh hhh",
        "m mm mmm",
        "s ss sss",
        "S SS SSS SSSS SSSSS",
        "z zz zzz",
        "zzzz zzzzz",
        "Z ZZ ZZZ ZZZZ ZZZZZ",
        "X",
        "XX",
        "XXX",
        "hh 'o''clock' a, zzzz",
        "EEE, d MMM yyyy HH:mm:ss Z",
        "EEE, MMM d, ''yy",
        "yyyyy.MMMMM.dd GGG hh:mm aaa",
        "yyMMddHHmmssZ",
        "yyyyMMddHHmmssSSS",
        "YYYY-'W'ww-u",
        "YYYY ww W u E",
        "''",
        "'T'",
        "'o''clock'",
        "'It''s' h:mm a",
        "yyyy-MM-dd HH:mm:ss.SSS zzz",
        "dd/MM/yyyy",
        "MM/dd/yy hh:mm:ss a",
        "D 'day' F 'of' MMMM",
        "[yyyy] {MM} (dd) #HH% @mm! ~ss",
        "K:mm a, z",
        "EEEE, MMMM d, yyyy 'at' h:mm:ss a zzzz",
        "EEE MMM dd HH:mm:ss zzz yyyy",
        "yyyy-DDD",
        "kk:mm:ss",
        "HH:mm:ss.S",
        "HH:mm:ss.SS",
        "yyyy-MM-dd'T'HH:mm:ssXX",
        "yyyy-MM-dd'T'HH:mm:ssX",
        "'quoted ''text'' with letters: yMdHms'",
    };

    static final String[] PARSE_PATTERNS = {
        "yyyy-MM-dd'T'HH:mm:ssZ",
        "yyyy-MM-dd'T'HH:mm:ss'Z'",
        "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'",
        "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "yyyy-MM-dd'T'HH:mm:ss.SSSX",
        "yyyy-MM-dd'T'HH:mm:ss.SSSXX",
        "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "yyyy-MM-dd'T'HH:mm",
        "yyyyMMddHHmmssSSS",
        "yyMMddHHmmssZ",
        "EEE, d MMM yyyy HH:mm:ss Z",
        "EEEE, MMMM d, yyyy 'at' h:mm:ss.SSS a zzzz",
        "MM/dd/yy hh:mm:ss a z",
        "yyyy-MM-dd HH:mm:ss.SSS zzz",
        "EEE MMM dd HH:mm:ss.SSS zzz yyyy",
        "yyyy-DDD HH:mm:ss.SSS",
        "YYYY-'W'ww-u HH:mm:ss.SSS",
        "yyyy w E HH:mm:ss.SSS",
        "yyyy MMM F E HH:mm:ss.SSS",
        "yyyy MMM W E HH:mm:ss.SSS",
        "kk:mm:ss.SSS dd.MM.yyyy",
        "K:mm:ss.SSS a, d MMM yyyy",
        "G yyyy-MM-dd HH:mm:ss.SSS",
        "d MMMM yyyy HH:mm:ss.SSS",
        "yyyy-MM-dd hh 'o''clock' a, mm:ss.SSS zzzz",
        "yyyy.LLL.dd HH:mm:ss.SSS z",
    };

    // Hand-written texts (not produced by format) that Java parses, or rejects ("ERROR").
    static final String[][] EXTRA_PARSES = {
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2022-12-07T09:15:45Z"},
        {"yyyy-MM-dd'T'HH:mm:ssZ", "UTC", "2022-12-07T09:15:45-0800"},
        {"yyyy-MM-dd'T'HH:mm:ssZ", "America/Los_Angeles", "2022-12-07T09:15:45GMT+05:30"},
        {"yyyy-MM-dd'T'HH:mm:ssXXX", "Europe/Paris", "2022-12-07T09:15:45Z"},
        {"yyyy-MM-dd'T'HH:mm:ssXXX", "Europe/Paris", "2022-12-07T09:15:45-03:30"},
        {"yyyy-MM-dd'T'HH:mm:ssX", "UTC", "2022-12-07T09:15:45+05"},
        {"EEE, d MMM yyyy HH:mm:ss Z", "UTC", "wed, 7 DEC 2022 09:15:45 +0100"},
        {"EEE, d MMM yyyy HH:mm:ss z", "UTC", "Wed, 7 Dec 2022 09:15:45 PST"},
        {"EEE, d MMM yyyy HH:mm:ss z", "UTC", "Fri, 7 Jul 2023 09:15:45 PDT"},
        {"EEE, d MMM yyyy HH:mm:ss z", "Asia/Kolkata", "Fri, 7 Jul 2023 09:15:45 GMT"},
        {"EEE, d MMM yyyy HH:mm:ss z", "UTC", "Fri, 7 Jul 2023 09:15:45 Central European Summer Time"},
        {"EEEE d MMMM yyyy HH:mm", "UTC", "Friday 7 July 2023 09:15"},
        {"EEEE d MMMM yyyy HH:mm", "UTC", "Fri 7 Jul 2023 09:15"},
        {"yyyy-MM-dd HH:mm", "America/Los_Angeles", "2023-03-12 02:30", "lenient"}, // DST gap
        {"yyyy-MM-dd HH:mm", "America/Los_Angeles", "2023-11-05 01:30"},
        {"yyyy-MM-dd HH:mm", "Europe/Paris", "2023-10-29 02:30"},
        {"yyyy-MM-dd HH:mm", "Europe/Paris", "2023-03-26 02:30", "lenient"}, // DST gap
        {"yyyy-MM-dd HH:mm", "UTC", "2023-01-05  9:05"},
        {"yyyy-MM-dd", "UTC", "2023-01-05"},
        {"yyyy-MM-dd", "Asia/Kolkata", "2023-01-05"},
        {"HH:mm", "Europe/Paris", "10:15"},
        {"MM/dd/yy HH:mm", "UTC", "01/02/45 10:00"},
        {"MM/dd/yy HH:mm", "UTC", "01/02/46 10:00"},
        {"MM/dd/yy HH:mm", "UTC", "01/02/2023 10:00"}, // not two digits: the year is literal
        {"YYYY-MM-dd", "UTC", "2023-05-10"}, // week year: Java ignores month and day
        {"MM/dd/yyyy hh:mm a", "UTC", "12/31/2023 12:00 AM"},
        {"MM/dd/yyyy hh:mm a", "UTC", "12/31/2023 12:00 pm"},
        {"yyyyMMdd", "UTC", "20230105"},
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2022-12-07"},
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2022-12-07T09:15:45"},
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2022-12-07 09:15:45Z"},
        {"yyyy-MM-dd'T'HH:mm:ssZ", "UTC", "2022-12-07T09:15:45+08"},
        {"yyyy-MM-dd'T'HH:mm:ssXX", "UTC", "2022-12-07T09:15:45+08:00"},
        {"EEE, d MMM yyyy", "UTC", "Wex, 7 Dec 2022"},
        {"EEE, d MMM yyyy", "UTC", "Thu, 7 Dec 2022"},
        {"yyyy-MM-dd", "UTC", "2023-02-29"},
        {"yyyy-MM-dd", "UTC", "2024-02-29"},
        {"yyyy-MM-dd", "UTC", "2023-13-01"},
        {"yyyy-MM-dd HH:mm", "UTC", "2023-01-01 24:00"},
        {"yyyy-MM-dd kk:mm", "UTC", "2023-01-01 24:00"},
        {"yyyy-MM-dd hh:mm", "UTC", "2023-01-01 00:00"},
        {"yyyy-MM-dd hh:mm", "UTC", "2023-01-01 12:30"},
        {"yyyy-MM-dd KK:mm a", "UTC", "2023-01-01 11:30 PM"},
        {"yyyy w E HH:mm", "UTC", "2019 1 Sun 10:00"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "UTC", "2022-12-07T09:15:45.2Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "UTC", "2022-12-07T09:15:45.21Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.SS", "UTC", "2022-12-07T09:15:45.21"},
        {"yyyyMMddHHmm", "UTC", "202212070915"},
        {"yyyyMMdd'T'HHmmss", "UTC", "20221207T091545"},
    };

    // Patterns Java rejects when compiling them.
    static final String[] BAD_PATTERNS = {
        "yyyy-MM-dd'T",
        "'unterminated",
        "yyyy-MM-dd q",
        "yyyy-MM-dd'T'HH:mm:ssXXXX",
    };

    static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    static SimpleDateFormat sdf(String pattern, String zone) {
        SimpleDateFormat f = new SimpleDateFormat(pattern, Locale.US);
        f.setTimeZone(TimeZone.getTimeZone(zone));
        return f;
    }

    static long millis(String iso) {
        return java.time.Instant.parse(iso).toEpochMilli();
    }

    // Parsing uses Java's non-lenient mode: the crate rejects out-of-range and contradicting
    // fields as setLenient(false) does. The one exception is a local time inside a DST gap,
    // which the crate moves forward as lenient Java does (strict Java rejects it); those
    // rows are generated with lenient = true.
    static void parseRow(String pattern, String zone, String text, boolean lenient) {
        // A fresh instance: parsing a zone name may change the format's time zone.
        SimpleDateFormat f = sdf(pattern, zone);
        f.setLenient(lenient);
        ParsePosition pos = new ParsePosition(0);
        Date d = f.parse(text, pos);
        String result;
        if (d == null) {
            result = "ERROR: Unparseable date at " + pos.getErrorIndex();
        } else if (pos.getIndex() != text.length()) {
            // Java stops early and ignores the rest; the crate requires the whole text.
            result = "ERROR: trailing text at " + pos.getIndex();
        } else {
            result = Long.toString(d.getTime());
        }
        System.out.println(esc(pattern) + "\t" + esc(zone) + "\t" + esc(text) + "\t" + result);
    }

    public static void main(String[] args) throws ParseException {
        String mode = args.length > 0 ? args[0] : "format";
        switch (mode) {
            case "format":
                System.out.println("pattern\tzone\tepoch_millis\tformatted");
                for (String pattern : FORMAT_PATTERNS) {
                    for (String zone : ZONES) {
                        SimpleDateFormat f = sdf(pattern, zone);
                        for (String instant : INSTANTS) {
                            long ms = millis(instant);
                            System.out.println(esc(pattern) + "\t" + zone + "\t" + ms + "\t" + esc(f.format(new Date(ms))));
                        }
                    }
                }
                break;
            case "parse":
                System.out.println("pattern\tzone\ttext\tepoch_millis");
                for (String pattern : PARSE_PATTERNS) {
                    for (String zone : ZONES) {
                        for (String instant : INSTANTS) {
                            parseRow(pattern, zone, sdf(pattern, zone).format(new Date(millis(instant))), false);
                        }
                    }
                }
                for (String[] row : EXTRA_PARSES) {
                    parseRow(row[0], row[1], row[2], row.length > 3 && row[3].equals("lenient"));
                }
                for (String pattern : BAD_PATTERNS) {
                    String result;
                    try {
                        new SimpleDateFormat(pattern, Locale.US);
                        result = "OK";
                    } catch (IllegalArgumentException e) {
                        result = "ERROR: " + e.getMessage();
                    }
                    System.out.println(esc(pattern) + "\tUTC\t\t" + esc(result));
                }
                break;
            case "zones":
                // Java's display names (Locale.US) for every zone ID, in the order
                // DateFormatSymbols.getZoneStrings() lists them (the order parsing searches),
                // then the remaining IDs. Columns: id, long standard, short standard,
                // long daylight, short daylight.
                Set<String> ids = new LinkedHashSet<>();
                for (String[] row : DateFormatSymbols.getInstance(Locale.US).getZoneStrings()) {
                    ids.add(row[0]);
                }
                for (String id : TimeZone.getAvailableIDs()) {
                    ids.add(id);
                }
                ids.add("UTC");
                for (String id : ids) {
                    TimeZone tz = TimeZone.getTimeZone(id);
                    System.out.println(id
                        + "\t" + tz.getDisplayName(false, TimeZone.LONG, Locale.US)
                        + "\t" + tz.getDisplayName(false, TimeZone.SHORT, Locale.US)
                        + "\t" + tz.getDisplayName(true, TimeZone.LONG, Locale.US)
                        + "\t" + tz.getDisplayName(true, TimeZone.SHORT, Locale.US));
                }
                break;
            default:
                throw new IllegalArgumentException("mode must be format, parse or zones");
        }
    }
}
