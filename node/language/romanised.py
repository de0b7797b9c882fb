"""Rules for what no detector recognises: Roman Urdu, Arabizi and English textese, plus the
function words that tell Punjabi (Shahmukhi) from Urdu and Kurmanji from its neighbours.

Measured (shared/LANGUAGE.md): fastText calls Roman Urdu Italian or English and Arabizi
Swahili or Spanish, and gives textese ("gr8 c u 2day") no more than its English prior. So
Latin-script text is first scored against short, exact word lists:

- Roman Urdu: frequent Urdu function words that are not English words ("hai", "nahi",
  "kya", "mein", ...), contrasted with English stop words;
- Arabizi: Latin words with the digits 3, 5, 7 or 9 inside letters ("7abibi", "ma3i",
  "sha5s"), never 2, 4 or 8, which textese uses ("gr8", "2day", "b4"); English number
  words ("9am", "5th", "3pm", "7mins") do not count;
- textese: English chat spellings ("u", "r", "gr8", "2day") that prove English.

Each scorer returns how many of the message's words it recognised; the caller weighs them.
"""

from __future__ import annotations

import re


def _listed(words: str) -> frozenset[str]:
    """A word list written one word after another, as a set."""
    return frozenset(words.split())

#: Roman Urdu words that are not English words (exact, lower-case)
ROMAN_URDU = _listed("""
hai hain nahi nahin nai kya kia kyun kyon kaise kese kaisa kesa kahan kahaan kidhar idhar
udhar mein mai mujhe mujhse mera meri mere tum tumhe tumhara tumhari tera teri tere aap
apka apki hum humein hamara yeh ye woh wo voh aur lekin magar abhi abi kal aaj parso
raat subah shaam jaldi bhai bhi yaar yar acha accha achha theek thik thek haan han ji jee
nahi karo karna karde kardo kar raha rahi rahe tha thi thay hoga hogi hona hua hui gaya
gayi gaye aana aao aaja aja jao jana jaa ja chalo chal batao batana bata bolo bol dekho
dekh suno paise paisa pese kab kitne kitna kuch koi kisi sab sath saath wala wali
wale liye lye baat baad pehle phir fir mat mt na hoon hun ho hoga pata kaun kon tujhe
tujhse milo milte mil ruk ruko samjha samjhe zaroor zarur bas khud apna apni doge dena
lena le lo gari gaari raste rasta subah karte
""")

#: English stop words and chat words: evidence a Latin message is English
ENGLISH = _listed("""
the a an and or but if of to in on at for with from by is are was were be been am do does
did have has had i you he she it we they me him her us them my your his its our their this
that these those what where when who why how not no yes can will would should could just
now then there here up out about get got go going come coming see call text back home
tonight today tomorrow later meet car money flat house phone number new save delete sorted
ok okay thanks thank please love late time text message
""")

#: English chat spellings ("gr8 c u 2day"): only an English writer uses them
TEXTESE = _listed("""
u r ur ya yh gr8 l8r l8 2day 2moro 2nite 2night b4 c cu cya m8 pls plz thx ty txt tx
lol lmao omg wat wot wen wer wud cud shud dont cant wont im ive ill idk tbh btw brb gonna
wanna gotta init innit bruv fam aight ok k kk xx xxx luv bday babe x
""")

#: Arabizi words written without digits (Levantine, Egyptian, Gulf chat)
ARABIZI = _listed("""
ana enta enti inta inti ento shu shou sho eh esh wein fein keef kif kifak kifik shlon
shlonak habibi habibti yalla yala wallah wallahi inshallah insha mashallah akhi ukhti
khalas bas mafi mish msh bokra bukra el al ya ma3 la2 aywa ah tayeb tamam ahlan marhaba
felous floos masari sha2a leila yom 3al ma la badi bade hala hala2 hek lesh leh rou7
ya3ni kaman kteer ktir shway shwai ma3i 3ala tayyib yahom yaha mesh ba3d awi esta3jel
""")

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
#: a Latin word with 3, 5, 7 or 9 touching a letter
_ARABIZI_DIGIT = re.compile(r"^(?=.*[a-z])[a-z0-9']*(?:[a-z][3579]|[3579][a-z])[a-z0-9']*$")
#: numbers with English units or ordinals: "9am", "5th", "3pm", "7mins", "2nd", "10k"
_ENGLISH_NUMBER = re.compile(r"^\d+(?:am|pm|th|st|nd|rd|s|k|m|h|hr|hrs|min|mins|ish|x|p|"
                             r"mg|g|kg|ml|oz|lb|ft|mph|gb|mb)$")

#: Shahmukhi Punjabi words Urdu does not use (fastText puts Punjabi second behind Urdu)
SHAHMUKHI = _listed("""
توں تو٘ں مینوں تینوں اونوں انوں سانوں تہانوں نوں کتھے ایتھے اوتھے کیتھے ایں آں نال وچ
دا کیہ کدوں ہنے ہُن ہن تسی تسیں اسی اساں ساڈا تہاڈا گڈی دسیں جاندا کردا ویکھ
""")

#: Urdu words Punjabi does not use: they keep short Urdu from being called Punjabi (or
#: Persian, whose script it shares)
URDU = _listed("""
ہے ہیں ہوں ہو نہیں کو کا کی کے سے گے گا گی مت کرو کریں تم آپ مجھے ہمیں یہ وہ ابھی
کیا کب کہاں کیوں پر تھا تھی رہا رہی
""")

#: Kurmanji words with no look-alike in the Latin languages around it (fastText mistakes
#: short Kurmanji for Zazaki, French or Turkish)
KURMANJI = _listed("""
ez tu em hûn ew yî im in ye me werim were bêje nebêje bibe bîne kengî kengê çi çima
kî li ji bi di de re ku derê niha îşev îro sibê dîsa heval pere pereyan malê rê têm
hev bibînin peyamê jê
""")


def words(text: str) -> list[str]:
    """The message's words, lower-case (letters and digits; punctuation and emoji dropped)."""
    return _WORD.findall(text.lower())


def arabizi_words(tokens: list[str]) -> int:
    """Words that only Arabizi writes: a digit 3/5/7/9 inside letters, or a listed word."""
    return sum(1 for w in tokens
               if (w in ARABIZI) or (_ARABIZI_DIGIT.match(w)
                                     and not _ENGLISH_NUMBER.match(w)))


def digit_words(tokens: list[str]) -> int:
    """Words with 3/5/7/9 inside letters: the mark of Arabizi no English writer makes."""
    return sum(1 for w in tokens if _ARABIZI_DIGIT.match(w) and not _ENGLISH_NUMBER.match(w))


def count_in(tokens: list[str], vocabulary: frozenset[str]) -> int:
    return sum(1 for w in tokens if w in vocabulary)
