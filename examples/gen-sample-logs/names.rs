//! Synthetic identities: account names on the reserved example domains, Japanese-style postal
//! addresses assembled from place names and random numbers (no real person's data), sellers,
//! products and user agents.

use crate::rng::Rng;

/// The only e-mail domains used (reserved for documentation).
pub const DOMAINS: [&str; 3] = ["example.com", "example.jp", "example.net"];

const SURNAMES: [&str; 96] = [
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "watanabe",
    "ito",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
    "shimizu",
    "yamazaki",
    "mori",
    "abe",
    "ikeda",
    "hashimoto",
    "yamashita",
    "ishikawa",
    "nakajima",
    "maeda",
    "fujita",
    "ogawa",
    "goto",
    "okada",
    "hasegawa",
    "murakami",
    "kondo",
    "ishii",
    "saito",
    "sakamoto",
    "endo",
    "aoki",
    "fujii",
    "nishimura",
    "fukuda",
    "ota",
    "miura",
    "fujiwara",
    "okamoto",
    "matsuda",
    "nakagawa",
    "nakano",
    "harada",
    "ono",
    "tamura",
    "takeuchi",
    "kaneko",
    "wada",
    "nakayama",
    "ishida",
    "ueda",
    "morita",
    "hara",
    "shibata",
    "sakai",
    "kudo",
    "yokoyama",
    "miyazaki",
    "miyamoto",
    "uchida",
    "takagi",
    "ando",
    "taniguchi",
    "ohno",
    "maruyama",
    "imai",
    "takada",
    "fujimoto",
    "takeda",
    "murata",
    "ueno",
    "sugiyama",
    "masuda",
    "sugawara",
    "hirano",
    "otsuka",
    "chiba",
    "kubo",
    "matsui",
    "iwasaki",
    "sakurai",
    "kinoshita",
    "noguchi",
    "matsuo",
    "kikuchi",
    "nomura",
    "arai",
    "kawasaki",
];

const GIVEN: [&str; 60] = [
    "hiroshi", "takashi", "kenji", "yuki", "akira", "daisuke", "makoto", "satoshi", "kazuki",
    "shota", "ryota", "yuta", "takuya", "naoki", "haruto", "sota", "yuto", "riku", "minato", "ren",
    "yui", "aoi", "hina", "sakura", "yuna", "mei", "rin", "miyu", "haruka", "ayaka", "misaki",
    "nanami", "mai", "yoko", "keiko", "naoko", "tomoko", "emi", "kaori", "megumi", "ai", "saki",
    "kana", "natsuki", "asuka", "chihiro", "ryo", "jun", "kei", "shun", "taro", "jiro", "koji",
    "masato", "tetsuya", "yusuke", "kohei", "tomoya", "hayato", "kaito",
];

const WEST_FIRST: [&str; 50] = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "susan",
    "richard",
    "jessica",
    "thomas",
    "sarah",
    "daniel",
    "karen",
    "matthew",
    "nancy",
    "anthony",
    "lisa",
    "mark",
    "betty",
    "paul",
    "sandra",
    "kevin",
    "ashley",
    "brian",
    "emily",
    "li",
    "wei",
    "minh",
    "anh",
    "jose",
    "maria",
    "carlos",
    "ana",
    "ahmed",
    "fatima",
    "ivan",
    "olga",
    "pierre",
    "sophie",
    "hans",
    "anna",
    "luca",
    "giulia",
    "raj",
    "priya",
];

const WEST_LAST: [&str; 50] = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "wilson",
    "anderson",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "hall",
    "young",
    "king",
    "wright",
    "scott",
    "nguyen",
    "tran",
    "kim",
    "park",
    "chen",
    "wang",
    "silva",
    "santos",
    "mueller",
    "schmidt",
    "rossi",
    "dubois",
    "kowalski",
    "ivanov",
    "singh",
    "patel",
    "khan",
    "ali",
    "cohen",
    "larsen",
];

const WORDS: [&str; 24] = [
    "sky", "neko", "blue", "star", "moon", "kaze", "sora", "umi", "hana", "tiger", "dragon",
    "coffee", "music", "guitar", "soccer", "tennis", "ramen", "sushi", "pixel", "lucky", "happy",
    "green", "rose", "snow",
];

/// A Japanese-style account name (the shop's customers).
pub fn jp_account(rng: &mut Rng) -> String {
    let s = *rng.pick(&SURNAMES);
    let g = *rng.pick(&GIVEN);
    let d = *rng.pick(&DOMAINS);
    match rng.below(8) {
        0 => format!("{g}.{s}@{d}"),
        1 => format!("{s}.{g}{}@{d}", rng.range(1, 99)),
        2 => format!("{}{s}{:02}@{d}", &g[..1], rng.range(60, 99) % 100),
        3 => format!("{g}_{s}{}@{d}", rng.range(1960, 2008)),
        4 => format!("{s}{g}{}@{d}", rng.range(1, 999)),
        5 => format!("{g}.{}{}@{d}", rng.pick(&WORDS), rng.range(1, 99)),
        6 => format!("{s}-{g}@{d}"),
        _ => format!("{}{}{}@{d}", &g[..1], &s[..1], rng.range(1000, 99_999)),
    }
}

/// An account from a leaked list: mixed nationalities, free-mail style names.
pub fn list_account(rng: &mut Rng) -> String {
    if rng.chance(0.55) {
        return jp_account(rng);
    }
    let f = *rng.pick(&WEST_FIRST);
    let l = *rng.pick(&WEST_LAST);
    let d = *rng.pick(&DOMAINS);
    match rng.below(6) {
        0 => format!("{f}.{l}@{d}"),
        1 => format!("{f}{l}{}@{d}", rng.range(1, 99)),
        2 => format!("{}{l}{}@{d}", &f[..1], rng.range(1950, 2009)),
        3 => format!("{f}_{}{}@{d}", rng.pick(&WORDS), rng.range(1, 999)),
        4 => format!("{l}.{f}{}@{d}", rng.range(10, 99)),
        _ => format!("{}{}{}@{d}", rng.pick(&WORDS), f, rng.range(100, 9999)),
    }
}

/// (prefecture, city, towns): real place names; numbers and buildings are random, so no
/// generated address belongs to anyone.
const PLACES: [(&str, &str, &[&str]); 20] = [
    (
        "東京都",
        "世田谷区",
        &["桜丘", "北沢", "太子堂", "用賀", "経堂"],
    ),
    (
        "東京都",
        "杉並区",
        &["阿佐谷南", "高円寺北", "荻窪", "西荻北"],
    ),
    ("東京都", "練馬区", &["石神井町", "大泉学園町", "豊玉北"]),
    ("東京都", "江東区", &["豊洲", "東陽", "大島"]),
    ("東京都", "八王子市", &["南大沢", "めじろ台", "横山町"]),
    ("神奈川県", "横浜市港北区", &["日吉", "綱島西", "菊名"]),
    ("神奈川県", "川崎市中原区", &["小杉町", "新丸子町", "木月"]),
    ("埼玉県", "さいたま市浦和区", &["高砂", "岸町", "常盤"]),
    ("千葉県", "船橋市", &["本町", "前原西", "夏見"]),
    ("大阪府", "大阪市北区", &["天神橋", "中崎", "本庄東"]),
    ("大阪府", "豊中市", &["上野東", "服部元町", "緑丘"]),
    (
        "京都府",
        "京都市左京区",
        &["下鴨本町", "北白川", "田中里ノ内町"],
    ),
    ("兵庫県", "神戸市東灘区", &["住吉本町", "岡本", "御影"]),
    (
        "愛知県",
        "名古屋市千種区",
        &["覚王山通", "今池", "星が丘元町"],
    ),
    ("福岡県", "福岡市中央区", &["大名", "薬院", "平尾"]),
    (
        "北海道",
        "札幌市中央区",
        &["南三条西", "北一条西", "宮の森"],
    ),
    ("宮城県", "仙台市青葉区", &["一番町", "上杉", "八幡"]),
    (
        "広島県",
        "広島市中区",
        &["大手町", "舟入本町", "白島九軒町"],
    ),
    ("静岡県", "浜松市中央区", &["鴨江", "佐鳴台", "高丘東"]),
    ("沖縄県", "那覇市", &["泊", "首里山川町", "松山"]),
];

const BUILDINGS: [&str; 12] = [
    "メゾン桜",
    "サンハイツ",
    "グランコート",
    "パークサイド",
    "コーポ青葉",
    "ライオンズ",
    "ハイム緑",
    "ベルメゾン",
    "エスポワール",
    "レジデンス",
    "シャトー",
    "プラザ",
];

/// A synthetic Japanese postal address (`〒154-0015 東京都世田谷区桜丘3-14-9 サンハイツ201`).
pub fn jp_address(rng: &mut Rng) -> String {
    let (pref, city, towns) = *rng.pick(&PLACES);
    let town = *rng.pick(towns);
    let zip = format!("{:03}-{:04}", rng.range(100, 999), rng.range(1, 9999));
    let block = format!(
        "{}-{}-{}",
        rng.range(1, 6),
        rng.range(1, 30),
        rng.range(1, 25)
    );
    if rng.chance(0.55) {
        format!(
            "〒{zip} {pref}{city}{town}{block} {}{}",
            rng.pick(&BUILDINGS),
            rng.range(1, 9) * 100 + rng.range(1, 12)
        )
    } else {
        format!("〒{zip} {pref}{city}{town}{block}")
    }
}

/// First-party seller name (the shop itself).
pub const FIRST_PARTY: &str = "example-shop";

/// Ordinary marketplace sellers.
pub const SELLERS: [&str; 10] = [
    "sakura-zakka",
    "kanto-supply",
    "hokuto-kaden",
    "mirai-trading",
    "nagomi-tea",
    "shonan-surf-goods",
    "kyoto-washi-ya",
    "tohoku-apple-farm",
    "akiba-parts",
    "osaka-kitchen",
];

/// Third-party sellers the takeover orders go to (electronics and gift cards resell well).
pub const RESALE_SELLERS: [&str; 5] = [
    "best-price-jp",
    "star-deal-store",
    "global-gadget-direct",
    "luckymart-hk",
    "tokyo-camera-outlet",
];

/// Search terms as typed (percent-encoded when written).
pub const SEARCHES: [&str; 12] = [
    "コーヒー",
    "加湿器",
    "ワイヤレスイヤホン",
    "電気毛布",
    "こたつ",
    "ギフトカード",
    "ゲーム機",
    "お米 5kg",
    "マスク",
    "ノートPC",
    "炊飯器",
    "カメラ",
];

/// Percent-encodes a query value (UTF-8, space as `+`).
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Desktop browsers of late 2026.
pub const UA_DESKTOP: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/154.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36 Edg/155.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/27.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:159.0) Gecko/20100101 Firefox/159.0",
];

/// Phones, including the LINE in-app browser that Japanese shoppers often arrive with.
pub const UA_PHONE: [&str; 5] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/27.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/15.19.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/154.0.0.0 Mobile Safari/537.36",
];

/// User agents of credential-stuffing tools: stale browser strings and HTTP libraries.
pub const UA_TOOL: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
];

/// Search engine crawlers.
pub const UA_CRAWLER: [&str; 2] = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

/// A monitoring bot whose user agent contains double quotes (nginx writes them as `\x22`).
pub const UA_QUOTED: &str =
    "Mozilla/5.0 (compatible; \"ShopLinkChecker\"/2.1; +https://monitor.example.net/)";

/// User names a typical sshd brute-force dictionary tries.
pub const SSH_USERS: [&str; 80] = [
    "admin",
    "test",
    "user",
    "oracle",
    "postgres",
    "ubuntu",
    "git",
    "ftpuser",
    "pi",
    "support",
    "guest",
    "mysql",
    "deployer",
    "jenkins",
    "hadoop",
    "elastic",
    "minecraft",
    "steam",
    "tomcat",
    "www",
    "www-data",
    "backup",
    "nagios",
    "zabbix",
    "dev",
    "devops",
    "ansible",
    "vagrant",
    "centos",
    "debian",
    "ec2-user",
    "azureuser",
    "administrator",
    "user1",
    "test1",
    "test2",
    "testuser",
    "demo",
    "sysadmin",
    "operator",
    "service",
    "server",
    "web",
    "webmaster",
    "ftp",
    "sftp",
    "docker",
    "k8s",
    "kafka",
    "redis",
    "mongo",
    "odoo",
    "gitlab",
    "sonar",
    "nexus",
    "solr",
    "ts3",
    "teamspeak",
    "student",
    "alex",
    "john",
    "david",
    "michael",
    "daniel",
    "sam",
    "tom",
    "tony",
    "kim",
    "lee",
    "wang",
    "li",
    "zhang",
    "admin1",
    "admin123",
    "root1",
    "sa",
    "dbadmin",
    "prueba",
    "usuario",
    "suporte",
];
