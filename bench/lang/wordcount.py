# wordcount.py - 2,000,000 LCG-drawn words, joined, split, counted in a dict; same as wordcount.flow
def run(n):
    vocab = []
    for i in range(5000):
        vocab.append("word" + str(i))
    words = []
    x = 42
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        words.append(vocab[x // 65536 % 5000])
    text = " ".join(words)
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    best = 0
    for w in vocab:
        if counts.get(w, 0) > best:
            best = counts[w]
    return [len(counts), counts["word0"], best]


r = run(2000000)
print(r[0], r[1], r[2])
