"""Short message phrases in the languages and scripts of the communities the scenario models,
written for this project (no copied corpus): the same handful of things people on these
phones say — where are you, call me, the money, the flat, don't tell anyone — in each.

Keys are BCP-47 tags as node.language writes them; ``en`` is the English textese the
scenario already used (scenario/data/catalogue.toml, [messages]).
"""

from __future__ import annotations

PHRASES: dict[str, tuple[str, ...]] = {
    # Urdu, Arabic script
    "ur": ("تم کہاں ہو؟ مجھے ابھی فون کرو", "پیسے کب دو گے؟", "آج رات فلیٹ پر ملو",
           "کسی کو مت بتانا", "میں راستے میں ہوں، ابھی آتا ہوں", "گاڑی لے کر آؤ",
           "یہ پیغام مٹا دو", "کل صبح بات کرتے ہیں", "وہ میرے ساتھ تھا"),
    # Punjabi, Shahmukhi (Arabic script)
    "pa-Arab": ("توں کتھے ایں؟ مینوں ہنے فون کر", "پیسے کدوں دیویں گا؟",
                "اج رات فلیٹ تے مل", "کسے نوں نہ دسیں", "میں راہ وچ آں، ہنے آندا آں",
                "گڈی لے کے آ", "اوہ میرے نال سی", "ایتھے آ جا، پیسے لے کے"),
    # Punjabi, Gurmukhi
    "pa": ("ਤੂੰ ਕਿੱਥੇ ਹੈਂ? ਮੈਨੂੰ ਹੁਣੇ ਫ਼ੋਨ ਕਰ", "ਪੈਸੇ ਕਦੋਂ ਦੇਵੇਂਗਾ?", "ਅੱਜ ਰਾਤ ਫਲੈਟ ਤੇ ਮਿਲ",
           "ਕਿਸੇ ਨੂੰ ਨਾ ਦੱਸੀਂ", "ਮੈਂ ਰਸਤੇ ਵਿੱਚ ਹਾਂ", "ਗੱਡੀ ਲੈ ਕੇ ਆ", "ਇਹ ਸੁਨੇਹਾ ਮਿਟਾ ਦੇ"),
    "bn": ("তুমি কোথায়? আমাকে এখনই ফোন করো", "টাকা কবে দেবে?", "আজ রাতে ফ্ল্যাটে দেখা করো",
           "কাউকে বলবে না", "আমি রাস্তায় আছি, এখনই আসছি", "গাড়িটা নিয়ে এসো",
           "মেসেজটা মুছে ফেলো", "কাল সকালে কথা বলব"),
    "ar": ("أين أنت الآن؟ اتصل بي فوراً", "متى ستدفع المال؟", "نلتقي في الشقة الليلة",
           "لا تخبر أحداً بشيء", "أنا في الطريق، سأصل حالاً", "أحضر السيارة إلى هنا",
           "احذف هذه الرسالة", "نتكلم غداً صباحاً"),
    # Arabizi: Arabic in Latin letters, digits for the sounds Latin lacks
    "ar-Latn": ("enta wein? 7aki ma3i hala2", "ta3a 3al sha2a el leila",
                "ma t2ol la 7ada", "wein el masari? badi yahom el yom",
                "ana 3al tari2, jay hala2", "7abibi esta3jel shway",
                "shu 3am ta3mel? rod 3alay", "3ayez el felous bokra", "emsa7 el risala de"),
    # Roman Urdu: Urdu in Latin letters
    "ur-Latn": ("kya haal hai bhai", "tum kahan ho? mujhe abhi call karo",
                "paise kab doge yaar", "aaj raat flat pe milo", "kisi ko mat batana",
                "main raste mein hoon, abhi aata hoon", "gaari le kar aao jaldi",
                "ye message delete kar do", "kal subah baat karte hain"),
    "ro": ("Unde ești? Sună-mă acum", "Vino diseară la apartament", "Nu spune nimănui nimic",
           "Când îmi dai banii?", "Sunt pe drum, ajung imediat",
           "Adu mașina în fața blocului", "Șterge mesajul ăsta", "Ne vedem mâine dimineață"),
    "pl": ("Gdzie jesteś? Zadzwoń do mnie", "Przyjdź dziś wieczorem do mieszkania",
           "Nie mów nikomu", "Kiedy oddasz pieniądze?", "Jestem w drodze, zaraz będę",
           "Podjedź samochodem pod blok", "Usuń tę wiadomość", "Do zobaczenia jutro rano"),
    "sq": ("Ku je? Më telefono tani", "Eja sonte në apartament", "Mos i thuaj askujt",
           "Kur do m'i japësh paratë?", "Jam rrugës, vij menjëherë",
           "Sill makinën para pallatit", "Fshije këtë mesazh", "Shihemi nesër në mëngjes"),
    # Kurdish, Kurmanji (Latin script)
    "kmr": ("Tu li ku yî? Niha li min bigere", "Îşev were malê", "Ji kesî re nebêje",
            "Tu kengî pereyan didî min?", "Ez di rê de me, niha têm",
            "Erebeyê bîne ber avahiyê", "Vê peyamê jê bibe", "Em ê sibê hev bibînin"),
    # Kurdish, Sorani (Arabic script)
    "ckb": ("تۆ لە کوێی؟ ئێستا پەیوەندیم پێوە بکە", "ئەمشەو وەرە بۆ شوقەکە",
            "بە کەس مەڵێ", "کەی پارەکەم دەدەیتێ؟", "من لە ڕێگام، ئێستا دێم",
            "ئۆتۆمبێلەکە بهێنە ئێرە", "ئەم نامەیە بسڕەوە", "بەیانی قسە دەکەین"),
    "vi": ("Anh đang ở đâu? Gọi cho em ngay", "Tối nay đến căn hộ nhé", "Đừng nói với ai",
           "Khi nào anh trả tiền?", "Em đang trên đường, đến ngay",
           "Mang xe đến trước tòa nhà", "Xóa tin nhắn này đi", "Hẹn gặp sáng mai"),
}

#: ISO 15924 script of each tag's phrases
SCRIPTS: dict[str, str] = {
    "ur": "Arab", "pa-Arab": "Arab", "pa": "Guru", "bn": "Beng", "ar": "Arab",
    "ar-Latn": "Latn", "ur-Latn": "Latn", "ro": "Latn", "pl": "Latn", "sq": "Latn",
    "kmr": "Latn", "ckb": "Arab", "vi": "Latn", "en": "Latn",
}

#: per scenario community (catalogue.toml [communities]): the languages its members'
#: phones write in besides English, with weights; English takes the rest of a phone's
#: messages (MIXED_ENGLISH) and all of the other communities'
COMMUNITY_LANGUAGES: dict[str, dict[str, float]] = {
    "pakistani": {"ur-Latn": 0.45, "ur": 0.3, "pa-Arab": 0.25},
    "indian": {"pa": 1.0},
    "bangladeshi": {"bn": 1.0},
    "arab": {"ar": 0.4, "ar-Latn": 0.3, "ckb": 0.15, "kmr": 0.15},
    "romanian": {"ro": 1.0},
    "polish": {"pl": 1.0},
    "white_british": {},
}
#: share of English-community phones whose owner writes Albanian or Vietnamese (county
#: lines and cannabis-farm networks the communities above do not cover)
OTHER_LANGUAGES = {"sq": 0.04, "vi": 0.02}
#: share of a multilingual phone's messages still written in English textese
MIXED_ENGLISH = 0.3
