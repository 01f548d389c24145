# lists.py - nested lists and slicing; same as lists.flow
def run(n, rounds):
    grid = [[(i * j + i) % 7 for j in range(n)] for i in range(n)]
    total = 0
    for r in range(rounds):
        grid = grid[1:] + grid[:1]
        for row in grid:
            half = row[r % 2::2]
            total = total + sum(half) + len(row[10:-10])
        grid[0] = grid[0][-1:] + grid[0][:-1]
    return [total, grid[0][0], grid[n - 1][n - 1], sum(grid[n // 2])]


r = run(300, 400)
print(r[0], r[1], r[2], r[3])
